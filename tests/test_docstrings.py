"""Every public name of the package's user-facing modules has a docstring:
the names in each module's __all__, and the public methods and properties
of its classes that this package defines (a method overriding a documented
one of a base class counts as documented, as help() shows the base's)."""
import importlib
import inspect
import re

import pytest

import semiring_lrp as sl

MODULES = ["semiring_lrp", "semiring_lrp.viz", "semiring_lrp.torch", "semiring_lrp.apps",
           "semiring_lrp.datasets", "semiring_lrp.rules", "semiring_lrp.composites",
           "semiring_lrp.models", "semiring_lrp.annotations"]


def public_members(cls):
    """(name, function or property) of the public methods and properties
    `cls` and its bases in this package define."""
    for klass in cls.__mro__:
        if not klass.__module__.startswith("semiring_lrp"):
            continue
        for name, value in vars(klass).items():
            if name.startswith("_") and name != "__call__":
                continue
            if isinstance(value, property):
                yield name, value
            elif isinstance(value, (staticmethod, classmethod)):
                yield name, value.__func__
            elif inspect.isfunction(value):
                yield name, value


def inherited_doc(cls, name):
    """The docstring help() shows for attribute `name` of `cls`: the first
    non-empty one along the method resolution order."""
    for klass in cls.__mro__:
        value = vars(klass).get(name)
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if value is not None and (getattr(value, "__doc__", None) or "").strip():
            return value.__doc__
    return None


def undocumented(module_name):
    """The public names of a module (and of its classes) without a docstring."""
    module = importlib.import_module(module_name)
    missing = []
    if not inspect.getdoc(module):
        missing.append(module_name)
    for name in module.__all__:
        obj = getattr(module, name)
        where = f"{module_name}.{name}"
        if inspect.ismodule(obj):
            if not inspect.getdoc(obj):
                missing.append(where)
            continue
        if inspect.isclass(obj):
            # a class's own docstring: inspect.getdoc would take a base's
            if not (obj.__doc__ or "").strip():
                missing.append(where)
            for member, _ in public_members(obj):
                if not inherited_doc(obj, member):
                    missing.append(f"{where}.{member}")
        elif callable(obj) and not (inspect.getdoc(obj) or "").strip():
            missing.append(where)
    return sorted(set(missing))


@pytest.mark.parametrize("module_name", MODULES)
def test_every_public_name_has_a_docstring(module_name):
    assert undocumented(module_name) == []


def test_the_check_finds_a_missing_docstring(monkeypatch):
    # a public method without a docstring is reported, by its full name
    def forward(self, a):
        return a
    monkeypatch.setattr(sl.Flatten, "forward", forward)
    monkeypatch.setattr(sl.Flatten, "__doc__", None)
    missing = undocumented("semiring_lrp")
    assert "semiring_lrp.Flatten" in missing
    assert "semiring_lrp.Flatten.forward" not in missing   # Layer.forward's docstring applies

    class Undocumented(sl.Real):
        def extra(self):
            return 1
    monkeypatch.setattr(sl.rules, "Undocumented", Undocumented, raising=False)
    monkeypatch.setattr(sl.rules, "__all__", sl.rules.__all__ + ["Undocumented"])
    Undocumented.__module__ = "semiring_lrp.rules"
    missing = undocumented("semiring_lrp.rules")
    assert "semiring_lrp.rules.Undocumented" in missing
    assert "semiring_lrp.rules.Undocumented.extra" in missing


def test_boolean_help_explains_its_parameters():
    text = sl.Boolean.__doc__
    for parameter in ("threshold", "absolute", "pool_threshold"):
        assert f"{parameter} :" in text
    assert "|d_jk| >= theta" in text
    assert "d_jk >= theta" in text


def test_relu_is_documented():
    assert "max(a, 0)" in sl.ReLU.__doc__


def undocumented_parameters(module_name):
    """Functions and classes of a module's __all__ whose docstring (a
    class's with its __init__'s) leaves out one of their parameters."""
    module = importlib.import_module(module_name)
    missing = []
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.ismodule(obj) or not callable(obj):
            continue
        doc = (obj.__doc__ or "") + (
            (vars(obj).get("__init__").__doc__ or "") if inspect.isclass(obj)
            and "__init__" in vars(obj) else "")
        try:
            parameters = inspect.signature(obj).parameters.values()
        except (TypeError, ValueError):   # a builtin without a signature
            continue
        for parameter in parameters:
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                continue
            if not re.search(rf"\b{re.escape(parameter.name)}\b", doc):
                missing.append(f"{module_name}.{name}({parameter.name})")
    return missing


@pytest.mark.parametrize("module_name", MODULES)
def test_every_parameter_is_documented(module_name):
    assert undocumented_parameters(module_name) == []


def test_the_parameter_check_finds_an_undocumented_parameter(monkeypatch):
    def explain(net, depth=3):
        """Explains net."""
    monkeypatch.setattr(sl.rules, "explain", explain, raising=False)
    monkeypatch.setattr(sl.rules, "__all__", sl.rules.__all__ + ["explain"])
    assert undocumented_parameters("semiring_lrp.rules") == ["semiring_lrp.rules.explain(depth)"]
