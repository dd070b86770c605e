"""Study files: a dataset, a base model, named sweeps, seeds and outputs, in TOML.

A study is read, validated and frozen here; :mod:`gdlab.runner` runs it. Every
key is checked: an unknown key names the closest valid one, a wrong type or an
impossible value names the key's place in the file (``sweeps[2].grid``). Paths
in a study file are relative to the file. Built-in studies ship as TOML files in
``gdlab/studies/`` and double as examples.

The format (all sections but ``[[sweeps]]`` optional)::

    name = "my-study"
    seeds = 5                       # a count, or a list of seeds
    # metrics = ["mae", "rmse"]     # what every model reports besides the loss (default:
                                    # ["accuracy"] for classes, ["mae"] for regression)

    [data]
    source = "wine"                 # a built-in dataset or a .csv/.parquet file
    target = "class"                # the target column of a file
    # sample_weight = "w"           # a column of the file holding per-row sample weights
    test_size = 0.3
    random_state = 42
    stratify = false
    scale = "standard"              # standard | minmax | none | course
    validation_split = 0.0
    validation = "last"             # last (Keras) | stratified

    [model]                         # base settings of every sweep
    hidden = "0"
    optimizer = "sgd"
    # class_weight = "balanced"     # or "none", or { 0 = 1.0, 1 = 3.0 }; also a grid axis:
                                    # grid = { class_weight = ["none", "balanced"] }

    [[sweeps]]
    name = "learning_rate"
    model = { batch_size = 16, epochs = 10 }
    grid = { learning_rate = [0.01, 0.05, 0.1, 0.5] }   # or configs = [{...}, ...]
    # validation_split = 0.3        # this sweep's own validation part
    # record_layer = -2             # record this layer's activations after each epoch
    # early_stopping = { monitor = "val_loss", patience = 2, restore_best_weights = true }
    # noise_scale = true            # measure the gradient noise scale (on 256 training rows)
    # goal = "test_accuracy>=0.9"   # target for epochs / updates to target (default: 95 % of
                                    # the best final value)
    # metrics = ["mae"]             # this sweep's own metrics

    [baseline]
    enabled = true
    cv = 5

    [outputs]
    figures = true
    report = true
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from gdlab.errors import ConfigError, closest
from gdlab.specs import SweepSpec, sweep_spec

SCALINGS = ("standard", "minmax", "none", "course")
VALIDATION_MODES = ("last", "stratified")


@dataclass(frozen=True)
class DataSpec:
    """Where the data comes from and how it is split and scaled."""

    source: str = "wine"
    target: str | None = None
    test_size: float = 0.3
    random_state: int = 42
    stratify: bool = False
    scale: str = "standard"
    validation_split: float = 0.0
    validation: str = "last"
    sample_weight: str | None = None


@dataclass(frozen=True)
class SweepEntry:
    """One named sweep of a study: settings over the base model, a grid or a list."""

    name: str
    title: str = ""
    text: str = ""
    model: tuple[tuple[str, Any], ...] = ()
    grid: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    configs: tuple[tuple[tuple[str, Any], ...], ...] = ()
    seeds: tuple[int, ...] | None = None
    validation_split: float | None = None
    validation: str | None = None
    record_layer: int | None = None
    early_stopping: tuple[tuple[str, Any], ...] = ()
    noise_scale: int = 0
    goal: str | None = None
    metrics: tuple[str, ...] | None = None


@dataclass(frozen=True)
class LrFindSpec:
    """The learning-rate range test of a study (``[lr_find]``)."""

    optimizers: tuple[str, ...] = ("sgd",)
    min_lr: float = 1e-6
    max_lr: float = 10.0
    epochs: int = 5
    batch_size: int = 32
    seeds: int = 10
    model: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class LandscapeSpec:
    """Loss-landscape slices of one sweep's trained models (``[landscape]``)."""

    sweep: str
    settings: tuple[str, ...] = ()
    points: int = 21
    plane: bool = True


@dataclass(frozen=True)
class BaselineSpec:
    """The scikit-learn baselines reported beside the networks."""

    enabled: bool = True
    cv: int = 5


@dataclass(frozen=True)
class OutputSpec:
    """What the run writes besides its tables."""

    figures: bool = True
    report: bool = True
    tensorboard: bool = False
    checkpoints: bool = False


@dataclass(frozen=True)
class StudySpec:
    """A whole study, validated."""

    name: str
    title: str = ""
    description: str = ""
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    data: DataSpec = field(default_factory=DataSpec)
    model: tuple[tuple[str, Any], ...] = ()
    sweeps: tuple[SweepEntry, ...] = ()
    baseline: BaselineSpec = field(default_factory=BaselineSpec)
    outputs: OutputSpec = field(default_factory=OutputSpec)
    quiet_warnings: tuple[str, ...] = ()
    base_dir: str | None = None
    lr_find: LrFindSpec | None = None
    landscape: LandscapeSpec | None = None
    metrics: tuple[str, ...] | None = None

    def metrics_for(self, entry: SweepEntry) -> tuple[str, ...] | None:
        """The metrics one sweep reports: its own, the study's, or None (the task's default)."""
        return entry.metrics if entry.metrics is not None else self.metrics

    def sweep_specs(self) -> list[SweepSpec]:
        """Each sweep as a :class:`SweepSpec` (base model, then the sweep's own model settings)."""
        return [self.sweep_spec(entry) for entry in self.sweeps]

    def sweep_spec(self, entry: SweepEntry) -> SweepSpec:
        """One sweep as a :class:`SweepSpec`."""
        base = dict(self.model) | dict(entry.model)
        seeds = entry.seeds if entry.seeds is not None else self.seeds
        if entry.grid:
            return sweep_spec(entry.name, base=base, grid={k: list(v) for k, v in entry.grid},
                              seeds=seeds)
        if entry.configs:
            return sweep_spec(entry.name, base=base, configs=[dict(c) for c in entry.configs],
                              seeds=seeds)
        return sweep_spec(entry.name, base=base, seeds=seeds)

    def data_for(self, entry: SweepEntry) -> DataSpec:
        """The data settings of one sweep (its own validation part, if it has one)."""
        updates = {}
        if entry.validation_split is not None:
            updates["validation_split"] = entry.validation_split
        if entry.validation is not None:
            updates["validation"] = entry.validation
        return replace(self.data, **updates)

    def with_overrides(self, *, data: str | None = None, target: str | None = None,
                       seeds: int | Sequence[int] | None = None,
                       sample_weight: str | None = None,
                       metrics: Sequence[str] | None = None,
                       class_weight: Any = None) -> StudySpec:
        """The same study on other data, seeds, weights or metrics (the CLI's overrides).

        Other data drop the study's sample-weight column unless ``sample_weight``
        names one; ``metrics`` and ``seeds`` replace every sweep's own;
        ``class_weight`` ("none", "balanced", "0:1,1:3" or a dict; None keeps the
        study's) becomes a base setting of every sweep.
        """
        spec = self
        if data is not None:
            if _is_file(data):  # given on the command line: relative to where it was run
                data = str(Path(data).resolve())
            spec = replace(spec, data=replace(spec.data, source=data, target=target,
                                              sample_weight=sample_weight))
        else:
            if target is not None:
                spec = replace(spec, data=replace(spec.data, target=target))
            if sample_weight is not None:
                spec = replace(spec, data=replace(spec.data, sample_weight=sample_weight))
        if spec.data.sample_weight is not None:
            _check_weight_source(spec.data.source, "--sample-weight")
        if seeds is not None:
            new = _seeds(seeds, "--seeds")
            spec = replace(spec, seeds=new,
                           sweeps=tuple(replace(s, seeds=None) for s in spec.sweeps))
        if metrics is not None:
            spec = replace(spec, metrics=_metrics(list(metrics), "--metrics"),
                           sweeps=tuple(replace(s, metrics=None) for s in spec.sweeps))
        if class_weight is not None:
            from gdlab.specs import parse_class_weight

            value = parse_class_weight(class_weight)
            spec = replace(spec, model=tuple((k, v) for k, v in spec.model
                                             if k != "class_weight")
                           + (("class_weight", value),))
        return spec

    def to_dict(self) -> dict[str, Any]:
        """The study as TOML-ready data, every default written out."""
        data = {k: v for k, v in asdict(self.data).items() if v is not None}
        if self.base_dir and _is_file(self.data.source):
            source = Path(self.data.source)
            if not source.is_absolute():
                data["source"] = str((Path(self.base_dir) / source).resolve())
        out: dict[str, Any] = {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "seeds": list(self.seeds),
            "quiet_warnings": list(self.quiet_warnings),
            **({"metrics": list(self.metrics)} if self.metrics is not None else {}),
            "data": data,
            "model": _settings_toml(dict(self.model)),
            "baseline": asdict(self.baseline),
            "outputs": asdict(self.outputs),
            "sweeps": [],
        }
        if self.lr_find is not None:
            d = asdict(self.lr_find)
            d["model"] = _settings_toml(dict(self.lr_find.model))
            d["optimizers"] = list(self.lr_find.optimizers)
            out["lr_find"] = d
        if self.landscape is not None:
            out["landscape"] = {k: list(v) if isinstance(v, tuple) else v
                                for k, v in asdict(self.landscape).items()}
        for s in self.sweeps:
            d: dict[str, Any] = {"name": s.name}
            if s.title:
                d["title"] = s.title
            if s.text:
                d["text"] = s.text
            if s.model:
                d["model"] = _settings_toml(dict(s.model))
            if s.grid:
                d["grid"] = {k: [_class_weight_toml(x) for x in v] if k == "class_weight"
                             else _plain(list(v)) for k, v in s.grid}
            if s.configs:
                d["configs"] = [_settings_toml(dict(c)) for c in s.configs]
            for key in ("validation_split", "validation", "record_layer"):
                if getattr(s, key) is not None:
                    d[key] = getattr(s, key)
            if s.early_stopping:
                d["early_stopping"] = _plain(dict(s.early_stopping))
            if s.noise_scale:
                d["noise_scale"] = s.noise_scale
            if s.goal:
                d["goal"] = s.goal
            if s.metrics is not None:
                d["metrics"] = list(s.metrics)
            if s.seeds is not None:
                d["seeds"] = list(s.seeds)
            out["sweeps"].append(d)
        return out

    def to_toml(self) -> str:
        """The fully resolved study as TOML: running it again repeats this study exactly."""
        import tomli_w

        return tomli_w.dumps(self.to_dict())


# ------------------------------------------------------------------- parsing


def _class_weight_toml(value: Any) -> Any:
    """A class weight setting as TOML writes it: "none", "balanced" or a table {class: weight}."""
    from gdlab.specs import parse_class_weight

    value = parse_class_weight(value)
    if value is None or isinstance(value, str):
        return "none" if value is None else value
    return {str(k): w for k, w in value}


def _settings_toml(settings: dict[str, Any]) -> dict[str, Any]:
    """Model settings as TOML data (None left out; class weights as above)."""
    out = _plain({k: v for k, v in settings.items() if k != "class_weight"})
    if "class_weight" in settings:
        out["class_weight"] = _class_weight_toml(settings["class_weight"])
    return out


def _canonical(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Settings with class weights in one spelling (None, "balanced" or (class, weight) pairs).

    Called after the settings are checked, so parsing cannot fail here.
    """
    from gdlab.specs import parse_class_weight

    out = dict(settings)
    if "class_weight" in out:
        out["class_weight"] = parse_class_weight(out["class_weight"])
    return out


def _metrics(value: Any, where: str) -> tuple[str, ...]:
    """Metric names, checked: each known, none twice."""
    from gdlab.sweeps import sweep_metrics

    if not isinstance(value, list):
        raise ConfigError(f"{where} must be a list of metric names, e.g. [\"mae\", \"rmse\"], "
                          f"got {value!r}.")
    try:
        return sweep_metrics(value, "classification")
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None


def _check_weight_source(source: str, where: str) -> None:
    if not _is_file(source):
        raise ConfigError(f"{where} names a column of a data file, but {source!r} is a built-in "
                          "dataset without sample weights; give a .csv or .parquet file.")


def _goal_metrics(metrics: Sequence[str] | None) -> list[str]:
    """The metric names a goal may use: the usual ones and the sweep's metrics on every set."""
    from gdlab.results import METRIC_ORDER, SET_PREFIXES

    return sorted(set(METRIC_ORDER) | {p + m for m in metrics or () for p in SET_PREFIXES})


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    return value


def _is_file(source: str) -> bool:
    from gdlab.datasets import is_file_reference

    return is_file_reference(source)


class _Reader:
    """Reads one table of a study file, naming the table in every error."""

    def __init__(self, table: Any, where: str, origin: str) -> None:
        if not isinstance(table, Mapping):
            raise ConfigError(f"{origin}: {where} must be a table, got {type(table).__name__}.")
        self.table, self.where, self.origin = dict(table), where, origin

    def error(self, message: str) -> ConfigError:
        return ConfigError(f"{self.origin}: {message}")

    def check_keys(self, valid: Sequence[str]) -> None:
        for key in self.table:
            if key not in valid:
                hint = closest(key, valid)
                did = f" Did you mean '{hint}'?" if hint else ""
                raise self.error(
                    f"unknown key '{key}' in {self.where}.{did} Valid keys: {', '.join(valid)}."
                )

    def get(self, key: str, kind: type | tuple[type, ...], default: Any) -> Any:
        if key not in self.table:
            return default
        value = self.table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            ok, value = True, float(value)
        if not ok:
            names = " or ".join(k.__name__ for k in kinds)
            raise self.error(
                f"{self.where}.{key} must be {_article(names)}, got {type(value).__name__} "
                f"{value!r}."
            )
        return value


def _article(name: str) -> str:
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


def _seeds(value: Any, where: str) -> tuple[int, ...]:
    if isinstance(value, bool):
        raise ConfigError(f"{where} must be a count or a list of seeds, got {value!r}.")
    if isinstance(value, int):
        if value < 1:
            raise ConfigError(f"{where} must be at least 1, got {value}.")
        return tuple(range(value))
    if isinstance(value, list | tuple) and value and all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value):
        if len(set(value)) != len(value):
            raise ConfigError(f"{where} has repeated seeds: {list(value)}.")
        return tuple(value)
    raise ConfigError(f"{where} must be a count or a list of integers >= 0, got {value!r}.")


def _check_settings(settings: Mapping[str, Any], where: str, origin: str) -> None:
    from gdlab.specs import resolve

    try:
        resolve(dict(settings))
    except ConfigError as e:
        raise ConfigError(f"{origin}: {where}: {e}") from None


def _check_goal(goal: str | None, where: str, origin: str,
                metrics: Sequence[str] | None = None) -> str | None:
    if goal is None:
        return None
    from gdlab.convergence import parse_goal

    try:
        return str(parse_goal(goal, _goal_metrics(metrics))).replace(" ", "")
    except ConfigError as e:
        raise ConfigError(f"{origin}: {where}: {e}") from None


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple((k, _freeze(v)) for k, v in value.items())
    return value


def parse_study(doc: Mapping[str, Any], *, origin: str = "study",
                base_dir: str | None = None) -> StudySpec:
    """A validated StudySpec from the parsed TOML document ``doc``."""
    top = _Reader(doc, "the study", origin)
    top.check_keys(["name", "title", "description", "seeds", "metrics", "quiet_warnings",
                    "data", "model", "sweeps", "baseline", "outputs", "lr_find", "landscape"])
    name = top.get("name", str, "")
    if not name.strip():
        raise top.error("the study needs a name, e.g. name = \"my-study\".")
    seeds = _seeds(doc["seeds"], f"{origin}: seeds") if "seeds" in doc else (0, 1, 2, 3, 4)
    quiet = top.get("quiet_warnings", list, [])
    if not all(isinstance(q, str) for q in quiet):
        raise top.error("quiet_warnings must be a list of warning names.")
    metrics = (_metrics(doc["metrics"], f"{origin}: metrics") if "metrics" in doc else None)

    d = _Reader(doc.get("data", {}), "[data]", origin)
    d.check_keys([f.name for f in DataSpec.__dataclass_fields__.values()])
    data = DataSpec(
        source=d.get("source", str, "wine"),
        target=d.get("target", str, None) or None,
        test_size=d.get("test_size", float, 0.3),
        random_state=d.get("random_state", int, 42),
        stratify=d.get("stratify", bool, False),
        scale=d.get("scale", str, "standard"),
        validation_split=d.get("validation_split", float, 0.0),
        validation=d.get("validation", str, "last"),
        sample_weight=d.get("sample_weight", str, None) or None,
    )
    if not 0.0 < data.test_size < 1.0:
        raise d.error(f"[data].test_size must be between 0 and 1, got {data.test_size}.")
    if not 0.0 <= data.validation_split < 1.0:
        raise d.error(f"[data].validation_split must be in [0, 1), got {data.validation_split}.")
    for key, valid in (("scale", SCALINGS), ("validation", VALIDATION_MODES)):
        value = getattr(data, key)
        if value not in valid:
            hint = closest(value, valid)
            raise d.error(f"[data].{key} = {value!r} is not one of {', '.join(valid)}."
                          + (f" Did you mean '{hint}'?" if hint else ""))
    if data.sample_weight is not None:
        try:
            _check_weight_source(data.source, "[data].sample_weight")
        except ConfigError as e:
            raise d.error(str(e)) from None

    model = _Reader(doc.get("model", {}), "[model]", origin).table
    _check_settings(model, "[model]", origin)
    model = _canonical(model)

    b = _Reader(doc.get("baseline", {}), "[baseline]", origin)
    b.check_keys(["enabled", "cv"])
    baseline = BaselineSpec(b.get("enabled", bool, True), b.get("cv", int, 5))
    if baseline.cv < 2:
        raise b.error(f"[baseline].cv must be at least 2 folds, got {baseline.cv}.")
    o = _Reader(doc.get("outputs", {}), "[outputs]", origin)
    o.check_keys(list(OutputSpec.__dataclass_fields__))
    outputs = OutputSpec(**{k: o.get(k, bool, v) for k, v in asdict(OutputSpec()).items()})

    raw_sweeps = doc.get("sweeps", [])
    if not isinstance(raw_sweeps, list) or not raw_sweeps:
        raise top.error("the study needs at least one [[sweeps]] table.")
    sweeps = []
    names: set[str] = set()
    for i, raw in enumerate(raw_sweeps):
        where = f"sweeps[{i}]"
        r = _Reader(raw, where, origin)
        r.check_keys(["name", "title", "text", "model", "grid", "configs", "seeds",
                      "validation_split", "validation", "record_layer", "early_stopping",
                      "noise_scale", "goal", "metrics"])
        sname = r.get("name", str, "")
        if not sname.strip():
            raise r.error(f"{where} needs a name.")
        if sname in names:
            raise r.error(f"{where}: the name {sname!r} is used twice; sweep names must differ.")
        names.add(sname)
        where = f"sweeps[{i}] ({sname})"
        smodel = _Reader(r.get("model", dict, {}), f"{where}.model", origin).table
        _check_settings(dict(model) | smodel, f"{where}.model", origin)
        smodel = _canonical(smodel)
        grid = r.get("grid", dict, {})
        configs = r.get("configs", list, [])
        if grid and configs:
            raise r.error(f"{where} has both grid and configs; give one.")
        for axis, values in grid.items():
            if not isinstance(values, list) or not values:
                raise r.error(f"{where}.grid.{axis} must be a non-empty list of values.")
        if "class_weight" in grid:
            for value in grid["class_weight"]:
                _check_settings({"class_weight": value}, f"{where}.grid.class_weight", origin)
            grid = grid | {"class_weight": [_canonical({"class_weight": v})["class_weight"]
                                            for v in grid["class_weight"]]}
        for k, c in enumerate(configs):
            if not isinstance(c, dict):
                raise r.error(f"{where}.configs must be a list of tables.")
            if "class_weight" in c:  # checked alone: the rest is checked over the base below
                _check_settings({"class_weight": c["class_weight"]}, f"{where}.configs[{k}]",
                                origin)
        configs = [_canonical(c) for c in configs]
        smetrics = (_metrics(raw["metrics"], f"{origin}: {where}.metrics") if "metrics" in raw
                    else None)
        vsplit = r.get("validation_split", float, None)
        if vsplit is not None and not 0.0 <= vsplit < 1.0:
            raise r.error(f"{where}.validation_split must be in [0, 1), got {vsplit}.")
        vmode = r.get("validation", str, None)
        if vmode is not None and vmode not in VALIDATION_MODES:
            raise r.error(f"{where}.validation must be one of {', '.join(VALIDATION_MODES)}.")
        stopping = r.get("early_stopping", dict, {})
        if stopping:
            from gdlab.sweeps import stop_rule

            try:
                stop_rule(stopping)
            except ConfigError as e:
                raise r.error(f"{where}.early_stopping: {e}") from None
        noise = r.get("noise_scale", (int, bool), 0)
        noise = (256 if noise is True else int(noise)) if noise is not False else 0
        if noise < 0 or noise == 1:
            raise r.error(f"{where}.noise_scale must be true or a number of rows >= 2, got "
                          f"{noise}.")
        entry = SweepEntry(
            name=sname,
            title=r.get("title", str, ""),
            text=r.get("text", str, ""),
            model=_freeze(smodel),
            grid=tuple((k, _freeze(v)) for k, v in grid.items()),
            configs=tuple(_freeze(c) for c in configs),
            seeds=_seeds(raw["seeds"], f"{origin}: {where}.seeds") if "seeds" in raw else None,
            validation_split=vsplit,
            validation=vmode,
            record_layer=r.get("record_layer", int, None),
            early_stopping=_freeze(stopping),
            noise_scale=noise,
            goal=_check_goal(r.get("goal", str, None), f"{where}.goal", origin,
                             smetrics if smetrics is not None else metrics),
            metrics=smetrics,
        )
        sweeps.append(entry)

    spec = StudySpec(
        name=name, title=top.get("title", str, ""), description=top.get("description", str, ""),
        seeds=seeds, data=data, model=_freeze(model), sweeps=tuple(sweeps),
        baseline=baseline, outputs=outputs, quiet_warnings=tuple(quiet), base_dir=base_dir,
        lr_find=_parse_lr_find(doc.get("lr_find"), model, origin),
        landscape=_parse_landscape(doc.get("landscape"), names, origin),
        metrics=metrics,
    )
    for i, entry in enumerate(spec.sweeps):
        try:
            spec.sweep_spec(entry)
        except ConfigError as e:
            raise ConfigError(f"{origin}: sweeps[{i}] ({entry.name}): {e}") from None
        monitor = str(dict(entry.early_stopping).get("monitor", "val_loss"))
        if entry.early_stopping and monitor.startswith("val_") and \
                spec.data_for(entry).validation_split == 0:
            raise ConfigError(
                f"{origin}: sweeps[{i}] ({entry.name}).early_stopping monitors {monitor!r} but "
                "there is no validation part; set validation_split (e.g. 0.2) in [data] or in "
                "the sweep, or monitor 'loss'."
            )
    return spec


def _parse_lr_find(raw: Any, base_model: Mapping[str, Any], origin: str) -> LrFindSpec | None:
    if raw is None:
        return None
    r = _Reader(raw, "[lr_find]", origin)
    r.check_keys([f for f in LrFindSpec.__dataclass_fields__])
    optimizers = r.get("optimizers", (list, str), ["sgd"])
    optimizers = [optimizers] if isinstance(optimizers, str) else optimizers
    from gdlab.optimizers import as_optimizer_spec

    for o in optimizers:
        try:
            as_optimizer_spec(o)
        except ConfigError as e:
            raise r.error(f"[lr_find].optimizers: {e}") from None
    spec = LrFindSpec(tuple(optimizers), r.get("min_lr", float, 1e-6),
                      r.get("max_lr", float, 10.0), r.get("epochs", int, 5),
                      r.get("batch_size", int, 32), r.get("seeds", int, 10),
                      _freeze(_Reader(r.get("model", dict, {}), "[lr_find].model",
                                      origin).table))
    if not 0 < spec.min_lr < spec.max_lr:
        raise r.error(f"[lr_find] needs 0 < min_lr < max_lr, got {spec.min_lr} and "
                      f"{spec.max_lr}.")
    for key in ("epochs", "batch_size", "seeds"):
        if getattr(spec, key) < 1:
            raise r.error(f"[lr_find].{key} must be at least 1, got {getattr(spec, key)}.")
    _check_settings(dict(base_model) | dict(spec.model), "[lr_find].model", origin)
    return spec


def _parse_landscape(raw: Any, sweeps: set[str], origin: str) -> LandscapeSpec | None:
    if raw is None:
        return None
    r = _Reader(raw, "[landscape]", origin)
    r.check_keys([f for f in LandscapeSpec.__dataclass_fields__])
    sweep = r.get("sweep", str, "")
    if sweep not in sweeps:
        hint = closest(sweep, sweeps)
        raise r.error(f"[landscape].sweep = {sweep!r} is not a sweep of this study"
                      + (f"; did you mean '{hint}'?" if hint else "")
                      + f" Sweeps: {', '.join(sorted(sweeps))}.")
    settings = r.get("settings", list, [])
    if not all(isinstance(x, str) for x in settings):
        raise r.error("[landscape].settings must be a list of setting names (as in the "
                      "sweep's table, e.g. \"Adam(learning_rate=0.01)\").")
    points = r.get("points", int, 21)
    if points < 3:
        raise r.error(f"[landscape].points must be at least 3, got {points}.")
    return LandscapeSpec(sweep, tuple(settings), points, r.get("plane", bool, True))


def read_study(path: str | Path) -> StudySpec:
    """Read and validate a study file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No study file {path}.")
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e}).") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file.") from None
    return parse_study(doc, origin=str(path), base_dir=str(path.parent))


def builtin_studies() -> dict[str, str]:
    """Built-in study names and their one-line titles."""
    out = {}
    for item in sorted(resources.files("gdlab.studies").iterdir(), key=lambda p: p.name):
        if item.name.endswith(".toml"):
            doc = tomllib.loads(item.read_text(encoding="utf-8"))
            out[item.name[:-5]] = doc.get("title", "")
    return out


def builtin_path(name: str) -> Any:
    """The packaged TOML file of a built-in study."""
    return resources.files("gdlab.studies") / f"{name}.toml"


def load_study(name_or_path: str | Path) -> StudySpec:
    """A built-in study by name, or a study file by path."""
    text = str(name_or_path)
    if text in builtin_studies():
        item = builtin_path(text)
        doc = tomllib.loads(item.read_text(encoding="utf-8"))
        return parse_study(doc, origin=f"built-in study {text!r}")
    path = Path(text)
    if path.suffix == ".toml" or path.exists():
        return read_study(path)
    valid = list(builtin_studies())
    hint = closest(text, valid)
    raise ConfigError(
        f"No built-in study or file named {text!r}."
        + (f" Did you mean '{hint}'?" if hint else "")
        + f" Built-in studies: {', '.join(valid)}; or give a path to a .toml file."
    )
