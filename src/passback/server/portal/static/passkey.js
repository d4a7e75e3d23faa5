// Passkeys (WebAuthn): the one portal page that needs a script. The form holds
// the server's options (data-options, JSON with base64url fields); this asks
// the browser for a passkey, and posts its answer as JSON in the form's
// "credential" field. Nothing else runs; nothing is fetched.
"use strict";
(function () {
  const form = document.getElementById("passkey-form");
  if (!form) {
    return;
  }
  const status = document.getElementById("passkey-status");
  const toB64 = (buffer) =>
    btoa(String.fromCharCode(...new Uint8Array(buffer)))
      .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const fromB64 = (text) =>
    Uint8Array.from(
      atob(text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4)),
      (c) => c.charCodeAt(0),
    );
  const say = (text) => {
    status.textContent = text;
    status.hidden = false;
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!window.PublicKeyCredential || !navigator.credentials) {
      say(form.dataset.unsupported);
      return;
    }
    const options = JSON.parse(form.dataset.options);
    options.challenge = fromB64(options.challenge);
    let answer;
    try {
      if (form.dataset.ceremony === "create") {
        options.user.id = fromB64(options.user.id);
        (options.excludeCredentials || []).forEach((c) => { c.id = fromB64(c.id); });
        const made = await navigator.credentials.create({ publicKey: options });
        answer = {
          id: made.id,
          rawId: toB64(made.rawId),
          type: made.type,
          response: {
            clientDataJSON: toB64(made.response.clientDataJSON),
            attestationObject: toB64(made.response.attestationObject),
            transports: made.response.getTransports ? made.response.getTransports() : [],
          },
          clientExtensionResults: made.getClientExtensionResults(),
          authenticatorAttachment: made.authenticatorAttachment,
        };
      } else {
        (options.allowCredentials || []).forEach((c) => { c.id = fromB64(c.id); });
        const used = await navigator.credentials.get({ publicKey: options });
        answer = {
          id: used.id,
          rawId: toB64(used.rawId),
          type: used.type,
          response: {
            clientDataJSON: toB64(used.response.clientDataJSON),
            authenticatorData: toB64(used.response.authenticatorData),
            signature: toB64(used.response.signature),
            userHandle: used.response.userHandle ? toB64(used.response.userHandle) : null,
          },
          clientExtensionResults: used.getClientExtensionResults(),
          authenticatorAttachment: used.authenticatorAttachment,
        };
      }
    } catch (error) {
      say(form.dataset.failed);
      return;
    }
    form.elements.credential.value = JSON.stringify(answer);
    form.submit();
  });
})();
