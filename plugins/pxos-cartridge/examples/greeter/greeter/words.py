"""Building the greeting; the template is a data file inside the package."""

from importlib.resources import files


def template() -> str:
    return files("greeter").joinpath("data/greeting.txt").read_text(encoding="utf-8").strip()


def greeting(*names: str) -> str:
    return template().format(names=", ".join(names) or "world")
