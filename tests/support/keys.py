"""A master key for tests that use the store without a server process."""

from passback.crypto.masterkey import MasterKey

TEST_MASTER_KEY = MasterKey.generate()
