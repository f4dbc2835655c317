"""An in-memory stand-in for the broker's account API, for unit tests of enrolment and
revocation logic (the real broker is in tests/integration/test_enrolment.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from cloud.fleet.broker import BrokerAccountError


@dataclass
class MemoryAccounts:
    """Accounts by user name: (site, password). `down` makes every call fail as the real one
    does when the broker cannot be reached."""

    accounts: dict[str, tuple[str, str]] = field(default_factory=dict)
    down: bool = False

    def _check(self) -> None:
        if self.down:
            raise BrokerAccountError("cannot reach the broker at broker:1883: refused")

    def put_device(self, device_id: str, site: str, password: str) -> None:
        self._check()
        self.accounts[device_id] = (site, password)

    def delete(self, username: str) -> bool:
        self._check()
        return self.accounts.pop(username, None) is not None

    def exists(self, username: str) -> bool:
        self._check()
        return username in self.accounts
