"""The bundle format: its version, its file names and the limits a bundle is held to."""

FORMAT_VERSION = 2  # 2: conditional models (schema.condition); unconditional bundles are still written as 1
CONFIG, WEIGHTS, STATE_DIR, CHECKPOINT = (
    "config.json",
    "model.safetensors",
    "training_state",
    "checkpoint.safetensors",
)
ATTRIBUTES = "attributes.json"  # attribute vectors (vaekit attributes), beside config.json
PICKLE_NAMES = ("*.pt", "*.pth", "*.bin", "*.ckpt", "*.pkl")
MAX_CONFIG_BYTES = 10 * 2**20  # config.json (a vocabulary of tokens is the largest part of a real one: a few KB)
MAX_CALIBRATION_BYTES = 64 * 2**20  # anomaly.json: about 20 bytes per calibration row, so 3 million rows
MAX_ATTRIBUTES_BYTES = 64 * 2**20  # attributes.json: about 20 bytes a number, e.g. 10,000 vectors of 300 dimensions
MAX_ATTRIBUTE_VECTORS = 10_000  # vectors in attributes.json
MAX_DEPTH = 32  # JSON nesting; config.json needs 4 levels, a training state's skeleton 5
MAX_SIZE = 1_000_000  # any one width, length or count in a model config
MAX_FEATURES = 100_000_000  # values per sample (the product of the schema's shape)
MAX_LAYERS = 64  # hidden layers of an MLP, residual blocks per resolution
MAX_COUNT = 10**12  # epochs, seeds' neighbours and other plain counts in the training section
