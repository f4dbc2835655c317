"""Stand-ins for the `tensorrt` and `pycuda.driver` modules, with the names and call shapes the
builder and the runner use (TensorRT 10 Python API, pycuda), so that their code runs here.

"Device" memory is host memory addressed by an integer, as CUDA pointers are; the stand-in
engine computes its outputs from its input (sum and maximum over each image) so that a test
can tell whether the runner copied the right bytes in and out for each batch size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import ModuleType, SimpleNamespace
from typing import Any, ClassVar

import numpy as np

# --- pycuda.driver -----------------------------------------------------------------------------

MEMORY: dict[int, bytearray] = {}


class DeviceAllocation:
    def __init__(self, nbytes: int) -> None:
        self.address = 0x1000 * (len(MEMORY) + 1)
        MEMORY[self.address] = bytearray(nbytes)
        self.freed = False

    def __int__(self) -> int:
        return self.address

    def free(self) -> None:
        self.freed = True


@dataclass
class PrimaryContext:
    pushes: int = 0
    detached: bool = False

    def push(self) -> None:
        self.pushes += 1

    def detach(self) -> None:
        self.detached = True


class Device:
    context = PrimaryContext()

    def __init__(self, ordinal: int) -> None:
        self.ordinal = ordinal

    @staticmethod
    def count() -> int:
        return 1

    def name(self) -> str:
        return "Orin"

    def compute_capability(self) -> tuple[int, int]:
        return 8, 7

    def retain_primary_context(self) -> PrimaryContext:
        return Device.context


class Stream:
    handle = 0xBEEF

    def synchronize(self) -> None:
        pass


def memcpy_htod_async(device: DeviceAllocation, host: np.ndarray, stream: Stream) -> None:
    MEMORY[int(device)][: host.nbytes] = host.tobytes()


def memcpy_dtoh_async(host: np.ndarray, device: DeviceAllocation, stream: Stream) -> None:
    host[...] = np.frombuffer(bytes(MEMORY[int(device)][: host.nbytes]), dtype=host.dtype).reshape(
        host.shape
    )


def pycuda_modules() -> tuple[ModuleType, ModuleType]:
    """(`pycuda`, `pycuda.driver`) stand-ins."""
    driver = ModuleType("pycuda.driver")
    driver.__dict__.update(
        Error=RuntimeError,
        init=lambda: None,
        Device=Device,
        Context=SimpleNamespace(pop=lambda: None),
        Stream=Stream,
        pagelocked_empty=lambda count, dtype: np.empty(count, dtype=dtype),
        mem_alloc=DeviceAllocation,
        memcpy_htod_async=memcpy_htod_async,
        memcpy_dtoh_async=memcpy_dtoh_async,
    )
    package = ModuleType("pycuda")
    package.driver = driver  # type: ignore[attr-defined]
    return package, driver


# --- tensorrt ----------------------------------------------------------------------------------

INPUT, OUTPUT = "INPUT", "OUTPUT"
TENSORS = {
    "input_1:0": (INPUT, (-1, 3, 4, 4)),
    "sums": (OUTPUT, (-1, 3)),
    "maxima": (OUTPUT, (-1, 1)),
}


@dataclass
class ExecutionContext:
    addresses: dict[str, int] = field(default_factory=dict)
    input_shape: tuple[int, ...] = ()
    executions: int = 0

    def set_tensor_address(self, name: str, address: int) -> None:
        self.addresses[name] = address

    def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
        self.input_shape = tuple(shape)
        return True

    def execute_async_v3(self, stream_handle: int) -> bool:
        assert stream_handle == Stream.handle
        self.executions += 1
        count = int(np.prod(self.input_shape))
        data = np.frombuffer(bytes(MEMORY[self.addresses["input_1:0"]][: count * 4]), np.float32)
        images = data.reshape(self.input_shape)
        sums = images.sum(axis=(2, 3)).astype(np.float32)
        maxima = images.max(axis=(1, 2, 3)).reshape(-1, 1).astype(np.float32)
        MEMORY[self.addresses["sums"]][: sums.nbytes] = sums.tobytes()
        MEMORY[self.addresses["maxima"]][: maxima.nbytes] = maxima.tobytes()
        return True


@dataclass
class Engine:
    data: bytes
    contexts: list[ExecutionContext] = field(default_factory=list)

    @property
    def num_io_tensors(self) -> int:
        return len(TENSORS)

    def get_tensor_name(self, index: int) -> str:
        return list(TENSORS)[index]

    def get_tensor_mode(self, name: str) -> str:
        return TENSORS[name][0]

    def get_tensor_dtype(self, name: str) -> str:
        return "FLOAT"

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        return TENSORS[name][1]

    def create_execution_context(self) -> ExecutionContext:
        self.contexts.append(ExecutionContext())
        return self.contexts[-1]


class Runtime:
    engines: ClassVar[list[Engine]] = []

    def __init__(self, logger: object) -> None:
        self.logger = logger

    def deserialize_cuda_engine(self, data: bytes) -> Engine | None:
        if not data.startswith(b"engine"):
            return None
        Runtime.engines.append(Engine(data))
        return Runtime.engines[-1]


@dataclass
class Network:
    inputs: list[SimpleNamespace] = field(default_factory=list)

    @property
    def num_inputs(self) -> int:
        return len(self.inputs)

    def get_input(self, index: int) -> SimpleNamespace:
        return self.inputs[index]


class OnnxParser:
    errors: ClassVar[tuple[str, ...]] = ()
    """What the next parse fails with (none: it succeeds)."""

    def __init__(self, network: Network, logger: object) -> None:
        self.network = network
        self.logger = logger

    def parse(self, data: bytes) -> bool:
        if self.errors:
            return False
        self.network.inputs.append(SimpleNamespace(name="input_1:0", shape=BUILD.input_shape))
        return True

    @property
    def num_errors(self) -> int:
        return len(self.errors)

    def get_error(self, index: int) -> str:
        return self.errors[index]


@dataclass
class BuilderConfig:
    flags: list[str] = field(default_factory=list)
    pools: dict[str, int] = field(default_factory=dict)
    profiles: list[dict[str, tuple[Any, ...]]] = field(default_factory=list)
    progress_monitor: Any = None
    int8_calibrator: Any = None
    calibration_profile: Any = None

    def set_memory_pool_limit(self, pool: str, size: int) -> None:
        self.pools[pool] = size

    def add_optimization_profile(self, profile: dict[str, tuple[Any, ...]]) -> int:
        self.profiles.append(profile)
        return len(self.profiles) - 1

    def set_flag(self, flag: str) -> None:
        self.flags.append(flag)

    def set_calibration_profile(self, profile: Any) -> None:
        self.calibration_profile = profile


class Profile(dict[str, tuple[Any, ...]]):
    def set_shape(self, name: str, low: Any, opt: Any, high: Any) -> None:
        self[name] = (low, opt, high)


class Builder:
    def __init__(self, logger: object) -> None:
        self.logger = logger

    def create_network(self, flags: int) -> Network:
        assert flags == 0  # explicit batch is TensorRT 10's only mode
        return Network()

    def create_builder_config(self) -> BuilderConfig:
        BUILD.config = BuilderConfig()
        return BUILD.config

    def create_optimization_profile(self) -> Profile:
        return Profile()

    def build_serialized_network(self, network: Network, config: BuilderConfig) -> bytes | None:
        monitor = config.progress_monitor
        if monitor is not None:
            monitor.phase_start("Building engine", None, 2)
            monitor.step_complete("Building engine", 1)
            monitor.phase_finish("Building engine")
        return BUILD.engine


@dataclass
class BuildScript:
    """What the stand-in builder does: the ONNX input shape it reports and the engine bytes."""

    input_shape: tuple[int, ...] = (-1, 3, 4, 4)
    engine: bytes | None = b"engine bytes"
    config: BuilderConfig | None = None


BUILD = BuildScript()


class IProgressMonitor:
    def __init__(self) -> None:
        pass


def tensorrt_module() -> ModuleType:
    """The `tensorrt` stand-in."""
    module = ModuleType("tensorrt")
    module.__dict__.update(
        __version__="10.3.0",
        Logger=type("Logger", (), {"WARNING": 2, "__init__": lambda self, level: None}),
        Runtime=Runtime,
        Builder=Builder,
        OnnxParser=OnnxParser,
        IProgressMonitor=IProgressMonitor,
        MemoryPoolType=SimpleNamespace(WORKSPACE="WORKSPACE"),
        BuilderFlag=SimpleNamespace(FP16="FP16", INT8="INT8"),
        TensorIOMode=SimpleNamespace(INPUT=INPUT, OUTPUT=OUTPUT),
        nptype={"FLOAT": np.float32}.__getitem__,
    )
    return module
