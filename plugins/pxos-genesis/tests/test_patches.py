import pytest

from pxos_genesis.evolve.patches import PatchError, apply_patch, touched_paths

GOOD = """--- a/pkg/mod.py
+++ b/pkg/mod.py
@@ -1 +1 @@
-x = 1
+x = 2
"""


def test_paths_are_read_from_the_patch():
    assert touched_paths(GOOD) == ["pkg/mod.py"]


@pytest.mark.parametrize("patch, problem", [
    (GOOD.replace("a/pkg", "a/../pkg"), "leaves the cartridge tree"),
    (GOOD.replace("+++ b/pkg", "+++ /etc/pkg"), "is absolute"),
    (GOOD.replace("b/pkg/mod.py", "b/.git/config"), "leaves the cartridge tree"),
    ("diff --git a/l b/l\nnew file mode 120000\n--- /dev/null\n+++ b/l\n", "symlinks"),
    ("diff --git a/x b/x\nGIT binary patch\n", "binary"),
    ("just some text\n", "touches no file"),
])
def test_unsafe_patches_are_refused_before_anything_is_applied(patch, problem):
    with pytest.raises(PatchError, match=problem):
        touched_paths(patch)


def test_apply_inside_the_tree_all_or_nothing(tmp_path):
    tree = tmp_path / "tree"
    (tree / "pkg").mkdir(parents=True)
    (tree / "pkg" / "mod.py").write_text("x = 1\n")
    assert apply_patch(GOOD, tree) == ["pkg/mod.py"]
    assert (tree / "pkg" / "mod.py").read_text() == "x = 2\n"
    with pytest.raises(PatchError, match="does not apply"):
        apply_patch(GOOD, tree)  # the context no longer matches
    assert (tree / "pkg" / "mod.py").read_text() == "x = 2\n"
