"""The pxos-pixellm plugin: inference engine ``pixellm``, ``model ...`` commands, program ``pixellm``.

Only the kernel and the standard library are imported here; numpy and the
model code load when an engine is made or a command runs.
"""

from __future__ import annotations

from pxos_kernel import InferenceEngine, Program, Setting, Subcommand, hookimpl, lazy

COMMANDS = (
    ("generate", "generate text from a pixel model (the shipped one by default)"),
    ("chat", "talk with a model through its own chat template (one message, or a conversation on stdin)"),
    ("info", "show a model container's architecture and tensor directory"),
    ("picture", "write a picture of a model's weights"),
    ("convert", "import Hugging Face safetensors or GGUF into a pixel model, or export to safetensors"),
    ("eval", "bits per byte on held-out text, next to gzip -9 and xz -9"),
    ("inspect", "the model inspects itself: tensor directory, statistics, hashes, a picture per tensor"),
    ("register", "keep a model container as a new version of a named model (evaluated, smoke-tested)"),
    ("list", "registered models and their versions"),
    ("show", "one registered version: lineage fields, evaluation, smoke test, tokenizer, history"),
    ("promote", "make a version current, if it does not regress against its parent and a human approves"),
    ("rollback", "make an earlier version current again"),
    ("lineage", "a version's ancestors, root first"),
    ("finetune", "train a new experimental version of a registered model on a text file (needs torch)"),
)


@hookimpl
def pxos_inference_engines():
    return InferenceEngine("pixellm", lazy("pxos_pixellm.engine:create_engine"),
                           "Llama-family and Qwen2 transformers whose weights, config and tokenizer live in PNG model containers")


@hookimpl
def pxos_settings():
    return [
        Setting("inference.pixellm.root", str, None, "the engine's directory; models/NAME.pxi under it are models by "
                "name (else PXOS_HOME/inference/pixellm)"),
        Setting("inference.pixellm.default_model", str, None, "the model name or .pxi path used when a request names "
                "none (else the shipped 'default')"),
        Setting("inference.pixellm.compute", str, None, "auto (compiled kernels when they build, else numpy), native "
                "or numpy (else PXOS_PIXELLM_COMPUTE, else auto)", choices=("auto", "native", "numpy")),
        Setting("inference.pixellm.threads", int, None, "compute threads (else the CPUs this process may use)"),
    ]


@hookimpl
def pxos_subcommands():
    return [Subcommand(f"model {name}", summary, lazy(f"pxos_pixellm.commands:run_{name}"),
                       lazy(f"pxos_pixellm.arguments:configure_{name}"))
            for name, summary in COMMANDS]


@hookimpl
def pxos_programs():
    return Program("pixellm", "pxos_pixellm.program:main",
                   "continue a prompt with the shipped pixel language model (same flags as model generate)")
