"""Faults: Ctrl-C and kill -9 at any moment, two runs in one folder, hostile checkpoints, bad inputs.

Nothing is lost (a resumed run ends weight for weight where an uninterrupted one does), nothing in a checkpoint is
run, and every bad input or fault ends with one line on stderr and exit code 2, before any work where possible.
"""
import contextlib
import errno
import io
import itertools
import os
import pickle
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from seqlib.checkpoint import FORMAT, FORMAT_VERSION, load_checkpoint, save_checkpoint
from seqlib.cli import main
from seqlib.errors import CheckpointError, DataError, LockError
from seqlib.evaluate import evaluate
from seqlib.model import ModelConfig
from seqlib.report import write_key_figures
from seqlib.runs import load_eval, load_tokenizer
from seqlib.train import Callback, TrainConfig, Trainer, TrainingError

from conftest import write_source

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
# dropout and both augmentations on: every source of randomness in a step has to be restored for an exact resume
MODEL = dict(d_model=16, nlayers=1, nhead=2, seq_len=16, dropout=0.1)
TRAIN = dict(batch=8, epochs=100, max_steps=24, eval_every=6, eval_windows=8, lr=3e-3, noise_p=0.05, mask_p=0.05,
             seed=0)


def flags(**settings) -> list[str]:
    return [f"--{name}={value}" for name, value in settings.items()]


def train_argv(data: Path, run: Path, *extra: str) -> list[str]:
    return ["train", "--u16_path", str(data), "--run_dir", str(run), "--no-progress", *flags(**MODEL, **TRAIN), *extra]


def train_cfg(data: Path, run: Path, **overrides) -> TrainConfig:
    """The TrainConfig that train_argv gives the CLI."""
    return TrainConfig(u16_path=str(data), run_dir=str(run), progress=False, **{**TRAIN, **overrides})


def start_training(data: Path, run: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "seqlib", *train_argv(data, run)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV)


def wait_for(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def one_line(text: str) -> str:
    text = text.strip()
    assert text and "\n" not in text and "Traceback" not in text, text
    return text


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    path, _ = write_source(tmp_path_factory.mktemp("data"), "markov", 20_000, seed=3, k=4, order=2, concentration=0.3)
    return path


@pytest.fixture(scope="module")
def straight(data, tmp_path_factory) -> Path:
    """The run folder of the uninterrupted run, trained through the CLI as every run it is compared with."""
    run = tmp_path_factory.mktemp("straight") / "run"
    assert main(train_argv(data, run)) == 0
    return run


def _optimizer_tensors(state: dict) -> list[torch.Tensor]:
    return [t for per_param in state["optimizer"]["state"].values() for t in per_param.values()]


def assert_equals_straight(run: Path, straight: Path) -> None:
    """The run ended bit for bit where the uninterrupted one did: weights, optimizer moments and history."""
    done, whole = load_checkpoint(run / "latest.pt"), load_checkpoint(straight / "latest.pt")
    assert done["step"] == whole["step"] == TRAIN["max_steps"]
    for key, weight in whole["model"].items():
        torch.testing.assert_close(done["model"][key], weight, atol=0, rtol=0, msg=key)
    assert all(torch.equal(a, b) for a, b in zip(_optimizer_tensors(done), _optimizer_tensors(whole), strict=True))
    columns = ("step", "lr", "train_loss_bits", "val_loss_bits", "val_top1")
    assert [[row[c] for c in columns] for row in done["history"]] == [[row[c] for c in columns] for row in
                                                                       whole["history"]]


def sigint_during_step(trainer: Trainer, step: int, times: int = 1) -> None:
    """Send SIGINT `times` times between the forward and the backward pass of training step `step`: once dropout has
    drawn its random numbers, before the weights change."""
    calls = itertools.count(1)

    def hook(module, args, output):
        if module.training and next(calls) == step:
            for _ in range(times):
                signal.raise_signal(signal.SIGINT)

    trainer.raw_model.register_forward_hook(hook)


# --- Ctrl-C and kill -9 ---

@pytest.mark.parametrize("step", [3, 6])  # between two validations (the running loss window is saved) and at one
def test_ctrl_c_in_the_middle_of_a_step_then_resume_equals_the_straight_run(data, straight, tmp_path, capsys, step):
    run = tmp_path / "run"
    trainer = Trainer(train_cfg(data, run), ModelConfig(**MODEL))
    sigint_during_step(trainer, step)
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    assert f"interrupted after step {step}; state saved" in capsys.readouterr().out
    assert load_checkpoint(run / "latest.pt")["step"] == step
    Trainer(train_cfg(data, run, resume=True)).fit()
    assert_equals_straight(run, straight)


def test_a_second_ctrl_c_stops_at_once_without_saving_and_releases_the_run_folder(data, tmp_path, capsys):
    run = tmp_path / "run"
    trainer = Trainer(train_cfg(data, run), ModelConfig(**MODEL))
    sigint_during_step(trainer, 3, times=2)
    before = [signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)]  # SIG_IGN in a background job
    with pytest.raises(KeyboardInterrupt):
        trainer.fit()
    assert "without saving, after step 2; nothing of this run was saved yet" in capsys.readouterr().out
    assert not (run / "latest.pt").exists() and not (run / ".lock").exists()
    assert [signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)] == before  # handlers restored


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])  # Ctrl-C; kill or a scheduler's pre-emption
def test_a_signal_to_a_training_process_saves_and_resume_equals_the_straight_run(data, straight, tmp_path, signum):
    run = tmp_path / "run"
    proc = start_training(data, run)
    wait_for(lambda: (run / "history.csv").exists())  # some steps in, at no particular moment of a step
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, err
    assert "Resume with the same command plus --resume" in out and "Traceback" not in err
    # the bare command: every setting not given comes from the checkpoint (lr, batch, seed, noise, the model's shape)
    assert main(["train", "--u16_path", str(data), "--run_dir", str(run), "--no-progress", "--resume"]) == 0
    assert_equals_straight(run, straight)


def test_a_setting_changed_on_resume_is_used_and_named(data, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(train_argv(data, run, "--max_steps=6")) == 0
    assert main(["train", "--u16_path", str(data), "--run_dir", str(run), "--resume", "--no-progress",
                 "--max_steps=12", "--lr=0.001"]) == 0
    assert ("note: resuming with --max_steps 12 (was 6), --lr 0.001 (was 0.003): from here the run differs from one "
            "never interrupted") in capsys.readouterr().err
    state = load_checkpoint(run / "latest.pt")
    assert state["step"] == 12 and state["train_config"]["lr"] == 0.001 and state["train_config"]["batch"] == 8


def test_kill_9_of_a_training_then_resume_takes_over_the_lock_and_equals_the_straight_run(data, straight, tmp_path,
                                                                                           capsys):
    run = tmp_path / "run"
    proc = start_training(data, run)
    wait_for(lambda: (run / "history.csv").exists())
    proc.kill()
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL and (run / ".lock").exists()
    assert main(train_argv(data, run, "--resume")) == 0
    assert f"taking over the lock of {run} from pid {proc.pid}" in capsys.readouterr().err
    assert_equals_straight(run, straight)


def test_kill_9_in_the_middle_of_saves_always_leaves_a_checkpoint_that_loads(data, tmp_path, capsys):
    run = tmp_path / "run"
    latest = run / "latest.pt"
    weights = torch.randn(1 << 20)  # 4 MB: writing it is most of a save
    save_checkpoint(latest, {"step": 0, "w": weights})
    delays = random.Random(0)
    for _ in range(20):
        pid = os.fork()
        if pid == 0:  # the child saves until it is killed, and never returns into pytest
            try:
                for step in itertools.count(1):
                    save_checkpoint(latest, {"step": step, "w": weights})
            finally:
                os._exit(1)
        time.sleep(delays.uniform(0.0, 0.05))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        assert torch.equal(load_checkpoint(latest)["w"], weights)
    assert list(run.glob(".latest.pt.*.tmp"))  # some kills came in the middle of a save
    Trainer(train_cfg(data, run), ModelConfig(**MODEL)).close()  # the next start
    assert not list(run.glob(".latest.pt.*.tmp"))
    assert "left by a save that was interrupted" in capsys.readouterr().err


def test_a_full_disk_during_training_ends_in_one_line_and_keeps_the_last_checkpoint(data, tmp_path, capsys,
                                                                                    monkeypatch):
    run, real_save, saves = tmp_path / "run", torch.save, itertools.count(1)

    def save(obj, f):  # the first validation's two saves succeed, then the disk is full
        if next(saves) > 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_save(obj, f)

    monkeypatch.setattr(torch, "save", save)
    assert main(train_argv(data, run)) == 2
    assert "No space left on device" in one_line(capsys.readouterr().err)
    assert load_checkpoint(run / "latest.pt")["step"] == TRAIN["eval_every"]
    assert sorted(p.name for p in run.iterdir()) == ["history.csv", "latest.pt", "model.pt", "summary.json"]


def test_a_nan_before_the_first_checkpoint_says_that_nothing_was_saved(data, tmp_path):
    class Poison(Callback):
        def on_step(self, trainer, row):
            with torch.no_grad():
                trainer.raw_model.norm.weight.fill_(float("nan"))

    trainer = Trainer(train_cfg(data, tmp_path / "run"), ModelConfig(**MODEL), callbacks=[Poison()])
    with pytest.raises(TrainingError) as e:
        trainer.fit()
    message = str(e.value)
    assert "nothing of this run was saved yet" in message and "start again" in message
    assert "latest.pt" not in message and "--resume" not in message
    assert not (tmp_path / "run" / ".lock").exists()


# --- the run folder lock ---

def test_a_second_training_into_a_busy_run_folder_is_refused_at_once_and_the_first_is_intact(data, straight, tmp_path,
                                                                                             capsys):
    run = tmp_path / "run"
    first = start_training(data, run)
    wait_for(lambda: (run / ".lock").exists() and (run / ".lock").read_text())
    assert main(train_argv(data, run, "--seed", "1")) == 2
    out, err = capsys.readouterr()
    message = one_line(err)
    assert f"is in use by pid {first.pid} on {socket.gethostname()}" in message
    assert "train --u16_path" in message and " since " in message and "another --run_dir" in message
    assert "global batch" not in out  # refused before any work
    _, first_err = first.communicate(timeout=120)
    assert first.returncode == 0, first_err
    assert_equals_straight(run, straight)
    assert not (run / ".lock").exists()


def test_a_second_trainer_in_the_same_process_is_refused_while_the_first_trains(data, tmp_path):
    run, refused = tmp_path / "run", []

    class StartAnother(Callback):
        def on_step(self, trainer, row):
            if row["step"] == 1:
                with pytest.raises(LockError, match="an earlier Trainer of this process") as e:
                    Trainer(train_cfg(data, run, seed=1))
                refused.append(e)

    Trainer(train_cfg(data, run, max_steps=2), ModelConfig(**MODEL), callbacks=[StartAnother()]).fit()
    assert refused
    Trainer(train_cfg(data, run, resume=True)).close()  # released once fit() ended


def test_a_failed_start_releases_the_run_folder(data, tmp_path):
    run = tmp_path / "run"
    with pytest.raises(CheckpointError, match="not found"):
        Trainer(train_cfg(data, run, resume=True))  # nothing to resume
    assert not (run / ".lock").exists()
    Trainer(train_cfg(data, run), ModelConfig(**MODEL)).close()


def test_evaluate_reads_a_run_folder_that_a_training_holds(data, straight, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(straight, run)
    busy = Trainer(train_cfg(data, run, resume=True))  # holds the lock
    result = evaluate(run / "model.pt", data, max_samples=500, progress=False)
    busy.close()
    assert load_eval(run)["verdict"] == result["verdict"]


# --- hostile checkpoints ---

class RunsCode:
    """Unpickles as fn(arg): what a hostile checkpoint does."""

    def __init__(self, fn, arg):
        self.fn, self.arg = fn, arg

    def __reduce__(self):
        return self.fn, (self.arg,)


def _torch_bytes(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


HOSTILE = {  # name: (bytes of the file given the marker it would create, what the message names)
    "os.system via __reduce__": (lambda m: _torch_bytes(RunsCode(os.system, f"touch {m}")), "posix.system"),
    "eval": (lambda m: _torch_bytes(RunsCode(eval, f"open({str(m)!r}, 'w')")), "eval"),
    "builtins.exec": (lambda m: _torch_bytes(RunsCode(exec, f"open({str(m)!r}, 'w')")), "exec"),
    # torch.save's pickle protocol 2 writes subprocess.call under its Python 2 name
    "subprocess": (lambda m: _torch_bytes(RunsCode(subprocess.call, ["touch", str(m)])), "commands.call"),
    "a global nested inside a seqlib checkpoint": (lambda m: _torch_bytes(
        {"format": FORMAT, "format_version": FORMAT_VERSION, "model": {"w": [torch.zeros(2),
                                                                             RunsCode(os.system, f"touch {m}")]}}),
        "posix.system"),
    "a plain pickle, protocol 0": (lambda m: f"cposix\nsystem\n(S'touch {m}'\ntR.".encode(), "posix.system"),
    "a plain pickle, protocol 5": (lambda m: pickle.dumps(RunsCode(os.system, f"touch {m}"), protocol=5), "FRAME"),
}


@pytest.mark.parametrize("form", HOSTILE)
def test_the_hostile_files_do_run_code_when_loaded_unsafely(tmp_path, form):
    """The control for the next test: each file really is hostile."""
    (tmp_path / "evil.pt").write_bytes(HOSTILE[form][0](tmp_path / "marker"))
    with contextlib.suppress(RuntimeError):  # a plain pickle runs, then fails torch's format check
        torch.load(tmp_path / "evil.pt", weights_only=False)
    assert (tmp_path / "marker").exists()


@pytest.mark.parametrize("form", HOSTILE)
def test_a_hostile_checkpoint_is_refused_naming_what_it_asks_for_and_runs_nothing(tmp_path, form):
    make, named = HOSTILE[form]
    (tmp_path / "evil.pt").write_bytes(make(tmp_path / "marker"))
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(tmp_path / "evil.pt")
    message = one_line(str(e.value))
    assert named in message and "hold only tensors and plain containers" in message
    assert "weights_only" not in message and e.value.__cause__ is None and e.value.__suppress_context__
    assert not (tmp_path / "marker").exists()


@pytest.mark.parametrize("command", ["predict", "evaluate", "resume"])
def test_every_command_refuses_a_hostile_checkpoint_in_one_line(data, tmp_path, capsys, command):
    run, marker = tmp_path / "run", tmp_path / "marker"
    run.mkdir()
    evil = HOSTILE["a global nested inside a seqlib checkpoint"][0](marker)
    for name in ("model.pt", "latest.pt"):
        (run / name).write_bytes(evil)
    argv = {"predict": ["predict", "--u16_path", str(data), "--ckpt", str(run / "model.pt"), "--idx", "100"],
            "evaluate": ["evaluate", "--u16_path", str(data), "--ckpt", str(run / "model.pt")],
            "resume": train_argv(data, run, "--resume")}[command]
    assert main(argv) == 2
    assert "refused" in one_line(capsys.readouterr().err) and not marker.exists()


# --- bad inputs: one line, exit code 2, before any work ---

def put(path: Path, content: bytes, argv: list) -> list:
    """argv, once `path` holds `content`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return argv


BAD_INPUTS = {  # name: (argv given the data file, a trained run folder and a scratch folder; what the message says)
    "--ckpt in /proc": (lambda d, run, tmp: ["train", "--u16_path", d, "--ckpt", "/proc/x.pt", *flags(**MODEL)],
                        "/proc does not let this process create files"),
    "--ckpt under a file": (lambda d, run, tmp: ["train", "--u16_path", d, "--ckpt", f"{d}/x.pt"],
                            "markov_3.u16 is a file, not a folder"),
    "--lr inf": (lambda d, run, tmp: train_argv(d, tmp / "new", "--lr", "inf"), "--lr=inf is out of range"),
    "--resume with another --d_model": (lambda d, run, tmp: ["train", "--u16_path", d, "--run_dir", run, "--resume",
                                                             "--d_model", "32"],
                                        "--d_model 32 differs from the checkpoint's 16"),
    "a malformed tokenizer.json": (lambda d, run, tmp: put(tmp / "new" / "tokenizer.json", b"{not json",
                                                           train_argv(d, tmp / "new")),
                                   "tokenizer.json is not a valid tokenizer.json"),
    "a truncated latest.pt on --resume": (lambda d, run, tmp: put(tmp / "cut" / "latest.pt",
                                                                  (run / "latest.pt").read_bytes()[:999],
                                                                  train_argv(d, tmp / "cut", "--resume")),
                                          "is corrupt"),
    "predict --topk 0": (lambda d, run, tmp: ["predict", "--u16_path", d, "--ckpt", run / "model.pt", "--idx", "100",
                                              "--topk", "0"], "--topk 0 is out of range"),
    "predict --topk -3": (lambda d, run, tmp: ["predict", "--u16_path", d, "--ckpt", run / "model.pt", "--idx", "100",
                                               "--topk", "-3"], "--topk -3 is out of range"),
    "predict --topk 70000": (lambda d, run, tmp: ["predict", "--u16_path", d, "--ckpt", run / "model.pt", "--idx",
                                                  "100", "--topk", "70000"], "it must be from 1 to 65,536"),
    "evaluate --batch 0": (lambda d, run, tmp: ["evaluate", "--u16_path", d, "--ckpt", run / "model.pt", "--batch",
                                                "0"], "--batch 0 is out of range"),
    "evaluate --max_samples 0": (lambda d, run, tmp: ["evaluate", "--u16_path", d, "--ckpt", run / "model.pt",
                                                      "--max_samples", "0"], "--max_samples 0 is out of range"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_a_bad_input_fails_in_one_line_with_exit_code_2_before_any_work(data, straight, tmp_path, capsys, case):
    argv, expected = BAD_INPUTS[case]
    assert main([str(a) for a in argv(str(data), straight, tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert expected in one_line(err)
    assert "global batch" not in out  # no training began


def test_an_impossible_checkpoint_location_fails_in_one_line_in_a_real_process(data):
    done = subprocess.run([sys.executable, "-m", "seqlib", "train", "--u16_path", str(data), "--ckpt", "/proc/x.pt"],
                          capture_output=True, text=True, env=ENV, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert one_line(done.stderr).startswith("error: cannot write /proc/x/latest.pt")


def test_resume_compares_only_the_model_flags_given(data, straight, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(straight, run)
    assert main(["train", "--u16_path", str(data), "--run_dir", str(run), "--resume", "--d_model", "16",
                 *flags(**TRAIN)]) == 0  # the other model flags take the checkpoint's values, not the defaults
    assert f"resumed {run / 'latest.pt'} at step {TRAIN['max_steps']}" in capsys.readouterr().out


def test_the_cli_trains_with_the_tokenizer_chosen_in_the_run_folder(data, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "tokenizer.json").write_text('{"kind": "uniform", "lo": [0, 2], "hi": [1, 3]}')
    assert main(train_argv(data, run, "--max_steps", "1")) == 0
    assert f"using the tokenizer of {run / 'tokenizer.json'} (uniform, 2 classes)" in capsys.readouterr().out
    assert load_checkpoint(run / "latest.pt")["tokenizer"]["kind"] == "uniform"


# --- what the notebooks call ---

@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"lo": [0]}', '{"kind": "sorted"}', '{"kind": "exact"}',
                                  '{"kind": "exact", "lo": [3, 1], "hi": [3, 1]}',
                                  '{"kind": "quantile", "lo": [0], "hi": [70000]}'])
def test_load_tokenizer_refuses_a_malformed_tokenizer_json_with_a_data_error(tmp_path, text):
    (tmp_path / "tokenizer.json").write_text(text)
    with pytest.raises(DataError, match="is not a valid tokenizer.json") as e:
        load_tokenizer(tmp_path)
    one_line(str(e.value))


@pytest.mark.parametrize("content", [b"", b"\xff\xfe\x00 not text", b"step,val\n1,2\n",
                                     b"step,train_loss_bits,val_loss_bits\n",
                                     b"step,train_loss_bits,val_loss_bits\n1,x,2\n", b'step,train_loss_bits\n1,"2\n'])
def test_write_key_figures_refuses_a_damaged_history_csv_with_a_data_error(tmp_path, content):
    (tmp_path / "history.csv").write_bytes(content)
    with pytest.raises(DataError, match="history.csv") as e:
        write_key_figures(tmp_path, tmp_path / "key.png")
    one_line(str(e.value))


def test_load_eval_refuses_a_damaged_eval_json_with_a_data_error(tmp_path):
    (tmp_path / "eval.json").write_text('{"model": ')
    with pytest.raises(DataError, match="eval.json is not valid JSON"):
        load_eval(tmp_path)
