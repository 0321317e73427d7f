import pytest

from pxos_genesis.evolve.patches import FileChange, PatchError, apply_patch, changed_files, check_targets, touched_paths

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
    ("just some text\n", "changes no file"),
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


def test_what_each_file_undergoes_is_read_from_the_patch():
    patch = GOOD + ("diff --git a/pkg/new.py b/pkg/new.py\nnew file mode 100644\n--- /dev/null\n+++ b/pkg/new.py\n"
                    "@@ -0,0 +1 @@\n+y = 1\n--- a/pkg/old.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-z = 1\n"
                    "diff --git a/a.txt b/b.txt\nsimilarity index 100%\nrename from a.txt\nrename to b.txt\n")
    assert changed_files(patch) == [FileChange("a.txt", "delete"), FileChange("b.txt", "create"),
                                    FileChange("pkg/mod.py", "modify"), FileChange("pkg/new.py", "create"),
                                    FileChange("pkg/old.py", "delete")]


def test_a_patch_against_files_the_cartridge_does_not_have_is_refused(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text("x = 1\n")
    check_targets(changed_files(GOOD), tmp_path, "demo@1.0")
    with pytest.raises(PatchError, match="changes pkg/other.py, which is not in demo@1.0"):
        check_targets(changed_files(GOOD.replace("mod.py", "other.py")), tmp_path, "demo@1.0")
    with pytest.raises(PatchError, match="creates pkg/mod.py, which demo@1.0 already has"):
        check_targets([FileChange("pkg/mod.py", "create")], tmp_path, "demo@1.0")


SYSTEM_MEMBERS = ["site-packages/pxos_pixelfs/__init__.py", "site-packages/pxos_pixelfs/store.py",
                  "site-packages/pxos_kernel/hookspecs.py", "source/plugins/pxos-pixelfs/tests/test_store.py",
                  "site-packages/pxos_pixelfs-0.1.0.dist-info/RECORD"]


def test_a_checkout_patch_is_translated_to_the_system_cartridge_layout():
    from pxos_genesis.evolve.translate import translate_patch

    patch = ("diff --git a/plugins/pxos-pixelfs/pxos_pixelfs/store.py b/plugins/pxos-pixelfs/pxos_pixelfs/store.py\n"
             "--- a/plugins/pxos-pixelfs/pxos_pixelfs/store.py\n+++ b/plugins/pxos-pixelfs/pxos_pixelfs/store.py\n"
             "@@ -1 +1 @@\n-x = 1\n+x = 2\n"
             "--- a/plugins/pxos-pixelfs/tests/test_store.py\n+++ b/plugins/pxos-pixelfs/tests/test_store.py\n"
             "@@ -1 +1 @@\n-y = 1\n+y = 2\n"
             "--- /dev/null\n+++ b/kernel/pxos_kernel/newmod.py\n@@ -0,0 +1 @@\n+z = 1\n")
    translated, mapping = translate_patch(patch, SYSTEM_MEMBERS)
    assert mapping == {"plugins/pxos-pixelfs/pxos_pixelfs/store.py": "site-packages/pxos_pixelfs/store.py",
                       "plugins/pxos-pixelfs/tests/test_store.py": "source/plugins/pxos-pixelfs/tests/test_store.py",
                       "kernel/pxos_kernel/newmod.py": "site-packages/pxos_kernel/newmod.py"}
    assert touched_paths(translated) == sorted(mapping.values())
    assert "diff --git a/site-packages/pxos_pixelfs/store.py b/site-packages/pxos_pixelfs/store.py\n" in translated
    assert "+x = 2\n" in translated and "+z = 1\n" in translated


def test_a_patch_already_in_member_paths_or_unreadable_is_left_alone():
    from pxos_genesis.evolve.translate import translate_patch

    native = GOOD.replace("pkg/mod.py", "site-packages/pxos_pixelfs/store.py")
    assert translate_patch(native, SYSTEM_MEMBERS) == (native, {})
    assert translate_patch("not a diff\n", SYSTEM_MEMBERS) == ("not a diff\n", {})
    elsewhere = GOOD.replace("pkg/mod.py", "docs/guide.md")
    assert translate_patch(elsewhere, SYSTEM_MEMBERS) == (elsewhere, {})
