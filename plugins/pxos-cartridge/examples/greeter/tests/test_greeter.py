from greeter import greeting


def test_greets_the_world_by_default():
    assert greeting() == "Hello, world, from a pixel archive!"


def test_greets_names():
    assert greeting("Ada", "Linus") == "Hello, Ada, Linus, from a pixel archive!"
