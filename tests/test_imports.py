"""What `import seqlib` loads, and the functions evaluate / predict / train beside their modules of the same names."""
import json
import subprocess
import sys
from pathlib import Path

import seqlib

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ["torch", "pandas", "scipy", "matplotlib", "seqlib.evaluate", "seqlib.predict", "seqlib.train"]


def loaded_after(code: str) -> list[str]:
    """The HEAVY modules in sys.modules of a fresh interpreter after running code."""
    probe = f"import json, sys\n{code}\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.splitlines()[-1])


def test_import_seqlib_loads_no_heavy_module_until_a_name_is_used():
    assert loaded_after("import seqlib") == []
    assert loaded_after("import seqlib; seqlib.U16Stream") == ["torch"]


def test_the_cli_loads_neither_scipy_nor_the_evaluation_and_prediction_code():
    assert set(loaded_after("import seqlib.cli")) == {"torch", "pandas", "seqlib.train"}


def test_the_functions_stay_functions_after_their_modules_are_imported(tmp_path):
    code = f"""
import inspect
import seqlib.evaluate, seqlib.predict, seqlib.train  # the import system binds each module on the package
from seqlib import evaluate, predict, train
import seqlib
assert all(inspect.isfunction(f) for f in (evaluate, predict, train, seqlib.evaluate, seqlib.predict, seqlib.train))
assert train is sys.modules["seqlib.train"].train and seqlib.Trainer is sys.modules["seqlib.train"].Trainer
from seqlib.train import TrainConfig
seqlib.make_stream({str(tmp_path / "m.u16")!r}, "markov", 4000)
cfg = TrainConfig(u16_path={str(tmp_path / "m.u16")!r}, run_dir={str(tmp_path / "run")!r}, batch=4, max_steps=2,
                  eval_every=2, eval_windows=4, progress=False)
history = train(cfg, seqlib.ModelConfig(d_model=16, nlayers=1, nhead=2, seq_len=8))
assert list(history["step"]) == [2], history
"""
    assert "seqlib.train" in loaded_after(code)


def test_other_assignments_to_the_function_names_still_take_effect(monkeypatch):
    fake = lambda *args, **kwargs: "fake"  # noqa: E731
    monkeypatch.setattr(seqlib, "train", fake)
    assert seqlib.train is fake
    monkeypatch.undo()
    assert seqlib.train is sys.modules["seqlib.train"].train
