"""Print the ReflowError tree with each class's stable code, from the classes themselves."""

from reflow_actors import errors


def show(cls: type[errors.ReflowError], prefix: str = "", last: bool = True) -> None:
    branch = "" if cls is errors.ReflowError else ("└── " if last else "├── ")
    print(f"{prefix}{branch}{cls.__name__:<{33 - len(prefix) - len(branch)}}{cls.code}")
    children = [c for c in cls.__subclasses__() if c.__module__ == errors.__name__]
    inner = "" if cls is errors.ReflowError else prefix + ("    " if last else "│   ")
    for index, child in enumerate(children):
        show(child, inner, index == len(children) - 1)


show(errors.ReflowError)
