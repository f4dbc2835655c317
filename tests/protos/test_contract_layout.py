"""Layout and naming rules of the contract that hold even where no buf binary is installed."""

from __future__ import annotations

import re
from pathlib import Path
from types import ModuleType


def test_each_proto_package_mirrors_its_directory_and_is_versioned(
    contract_modules: dict[Path, ModuleType],
) -> None:
    assert contract_modules, "no .proto files found"
    for proto, module in contract_modules.items():
        assert module.DESCRIPTOR.package == ".".join(proto.parent.parts)
        assert re.fullmatch(r"sightline\.[a-z_]+\.v\d+", module.DESCRIPTOR.package)


def test_every_enum_starts_at_a_prefixed_unspecified_zero(
    contract_modules: dict[Path, ModuleType],
) -> None:
    for module in contract_modules.values():
        for enum in module.DESCRIPTOR.enum_types_by_name.values():
            prefix = re.sub(r"(?<!^)(?=[A-Z])", "_", enum.name).upper() + "_"
            assert enum.values[0].number == 0
            assert enum.values[0].name == f"{prefix}UNSPECIFIED"
            assert all(value.name.startswith(prefix) for value in enum.values)
