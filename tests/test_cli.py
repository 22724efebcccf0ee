"""The CLI: exit codes, one-line errors that name the file, one JSON document, goldens.

Goldens are regenerated with LOSSDOCTOR_REGEN=1 (then reviewed in the diff).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import FIXTURES, ROOT, run_cli

GOLDEN = ROOT / "tests" / "golden"



# Numbers that come out of a curve fit move in their last digits with the machine's BLAS
# kernels and the optimizer's path: goldens hold them to FIT_TOL nats (or one unit of the
# last printed digit), and the padding around a number may differ with its width;
# everything else must match exactly.
FIT_TOL = 2e-3
_NUMBER = re.compile(r"[-+]?\d+(?:,\d{3})*(?:\.(\d+))?(?:e[-+]?\d+)?")


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("LOSSDOCTOR_REGEN"):
        path.write_text(text)
    if name.endswith(".json"):
        assert _approx(json.loads(text)) == _approx(json.loads(path.read_text()))
    else:
        assert _approx(text) == _approx(path.read_text())


class _Near:
    """A number that equals another within the fit tolerance."""

    def __init__(self, value: float, decimals: int = 9) -> None:
        self.value, self.tol = value, max(FIT_TOL, 1.01 * 10.0 ** -decimals)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Near):
            return NotImplemented
        return abs(self.value - other.value) <= max(self.tol, other.tol) * max(1.0, abs(self.value))

    def __repr__(self) -> str:
        return repr(self.value)


def _approx(doc):
    """Floats (and numbers inside strings) as _Near, the rest as is."""
    if isinstance(doc, dict):
        return {k: _approx(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_approx(v) for v in doc]
    if isinstance(doc, float):
        return _Near(doc)
    if isinstance(doc, str) and _NUMBER.search(doc):
        parts: list = []
        last = 0
        for m in _NUMBER.finditer(doc):
            parts.append(doc[last:m.start()].strip())
            parts.append(_Near(float(m.group(0).replace(",", "")), len(m.group(1) or "")))
            last = m.end()
        parts.append(doc[last:].strip())
        return parts
    return doc


@pytest.fixture(autouse=True)
def _in_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # goldens hold paths relative to the project


def test_golden_json_of_a_real_nanogpt_log():
    code, out, err = run_cli("analyze", "fixtures/nanogpt/cpu_small/train.log", "--format", "json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    run = doc["runs"][0]
    assert run["format"] == "nanogpt" and run["config"]["eval_iters"] == 20
    assert run["config_defaults_trusted"] is True  # its header matches its tokens per iteration
    assert run["iters"]["count"] == 301 and len(run["eval"]) == 4
    f = run["facts"]
    assert (f["tokens_per_iter"], f["params"], f["tokens_seen"]) == (768, 795904, 768 * 301)
    assert (f["best_val"], f["best_val_step"]) == (f["final_val"], 300)
    check_golden("cpu_small.json", out)


def test_golden_json_of_a_run_written_by_the_builtin_trainer():
    code, out, err = run_cli("analyze", "fixtures/lossdoctor_train/tiny", "--format", "json")
    assert (code, err) == (0, "")
    run = json.loads(out)["runs"][0]
    assert run["format"] == "nanogpt+ckpt" and run["unparsed"]["count"] == 0
    assert run["iters"]["count"] == 101 and [e["step"] for e in run["eval"]] == [0, 25, 50, 75, 100]
    assert run["facts"]["tokens_per_iter"] == 8 * 32 and run["config"]["n_embd"] == 32
    check_golden("lossdoctor_train_tiny.json", out)


def test_golden_rich_report_of_a_resumed_run_with_checkpoint():
    from rich.console import Console

    import lossdoctor
    from lossdoctor.report.terminal import render
    console = Console(file=io.StringIO(), width=100, color_system=None, legacy_windows=False)
    console.print(render(lossdoctor.analyze(["fixtures/nanogpt/tiny_resume"]), verbose=True))
    check_golden("tiny_resume.txt", console.file.getvalue())


def test_log_and_checkpoint_given_together_merge():
    code, out, _ = run_cli("analyze", "fixtures/nanogpt/tiny_resume/train.log",
                           "fixtures/nanogpt/tiny_resume/ckpt.pt", "--format", "json")
    doc = json.loads(out)
    assert code == 0 and len(doc["runs"]) == 1 and doc["runs"][0]["format"] == "nanogpt+ckpt"
    assert doc["runs"][0]["facts"]["params"] == 26816  # exact, from the state dict


def test_json_is_exactly_one_document_for_several_runs():
    code, out, _ = run_cli("analyze", "fixtures/nanogpt/cpu_small/train.log",
                           "fixtures/nanogpt/tiny_nodecay/train.log", "--format", "json")
    assert code == 0
    doc, end = json.JSONDecoder().raw_decode(out)
    assert out[end:].strip() == "" and len(doc["runs"]) == 2


def test_no_path_discovers_logs_and_checkpoints(tmp_path, monkeypatch):
    (tmp_path / "train.log").write_bytes((FIXTURES / "nanogpt/tiny_nodecay/train.log").read_bytes())
    (tmp_path / "notes.txt").write_text("shopping list\n")
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli("analyze", "--format", "json")
    assert code == 0 and [r["source"] for r in json.loads(out)["runs"]] == ["./train.log"]
    # run directories give their log and checkpoint; a stray file that looks like a log is skipped, said
    import shutil
    shutil.copytree(FIXTURES / "lossdoctor_train" / "tiny", tmp_path / "out-tiny")
    (tmp_path / "stderr.log").write_text("progress: iter 5 of 10\n")
    code, out, err = run_cli("analyze", "--format", "json")
    sources = [r["source"] for r in json.loads(out)["runs"]]
    assert code == 0 and sources[1] == "./train.log" and sources[0].startswith("./out-tiny/train.log + ")
    assert "lossdoctor: skipped ./stderr.log: no lines of a training log found" in err
    # a run folder whose metrics file logged nothing is skipped too, with why; the others are read
    (tmp_path / "out-empty").mkdir()
    (tmp_path / "out-empty" / "metrics.csv").write_text("epoch,step,train_loss,val_loss\n")
    code, out, err = run_cli("analyze", "--format", "json")
    assert code == 0 and [r["source"] for r in json.loads(out)["runs"]] == sources
    assert "lossdoctor: skipped ./out-empty/metrics.csv: holds no loss or metric value" in err


@pytest.mark.parametrize("content,reason", [
    (b"", "empty file"),
    (b"\x00\x01\x02binary\x00" * 10, "binary file"),
    (b"Dear diary,\ntoday I trained nothing.\n", "no lines of a training log"),
])
def test_bad_input_exits_2_with_one_line_naming_the_file(tmp_path, content, reason):
    p = tmp_path / "bad.log"
    p.write_bytes(content)
    code, out, err = run_cli("analyze", str(p))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and str(p) in err and reason in err


def test_an_error_is_wrapped_at_the_width_the_user_set_never_inside_a_path(tmp_path, monkeypatch):
    p = tmp_path / "a-log-whose-name-is-long-enough-to-need-a-line-of-its-own-at-sixty.log"
    p.write_text("Dear diary,\ntoday I trained nothing.\n")
    monkeypatch.setenv("COLUMNS", "60")
    code, _, err = run_cli("analyze", str(p))
    lines = err.rstrip("\n").split("\n")
    assert code == 2 and len(lines) > 1 and str(p) in err  # the path whole, on a line of its own
    assert all(len(x) <= 60 for x in lines if str(p) not in x) and lines[0].startswith("lossdoctor: error:")


def test_a_usage_error_is_wrapped_at_the_width_the_user_set_too(monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    code, _, err = run_cli("sample", "out", "--max-new-tokens", "0")
    lines = err.rstrip("\n").split("\n")
    assert code == 2 and len(lines) > 1 and all(len(x) <= 60 for x in lines)
    monkeypatch.delenv("COLUMNS")
    assert run_cli("sample", "out", "--max-new-tokens", "0")[2].count("\n") == 1  # read by a program: one line


def test_missing_file_and_empty_directory(tmp_path):
    code, _, err = run_cli("analyze", str(tmp_path / "nope.log"))
    assert code == 2 and "no such file" in err
    code, _, err = run_cli("analyze", str(tmp_path))
    assert code == 2 and "holds no file named as a training log or a ckpt.pt" in err and str(tmp_path) in err


def test_usage_errors_exit_2():
    assert run_cli("analyze", "--format", "xml")[0] == 2
    assert run_cli("frobnicate")[0] == 2
    assert run_cli()[0] == 2


def test_peak_flops_by_device_name():
    code, out, _ = run_cli("analyze", "fixtures/nanogpt/cpu_small/train.log", "--format", "json",
                           "--peak-flops", "A100")
    f = json.loads(out)["runs"][0]["facts"]
    assert code == 0 and f["mfu_device"] is not None
    assert run_cli("analyze", "fixtures/nanogpt/cpu_small/train.log", "--peak-flops", "abacus")[0] == 2
    # a name matched by its words is said as the device it was read as, on stderr
    code, out, err = run_cli("analyze", "fixtures/nanogpt/cpu_small/train.log", "--format", "json",
                             "--peak-flops", "NVIDIA H100 80GB HBM3")
    assert code == 0 and json.loads(out) and "read as the H100 SXM (9.89e+14 FLOP/s)" in err
    assert "read as" not in run_cli("analyze", "fixtures/nanogpt/cpu_small/train.log", "--peak-flops", "A100")[2]


def test_help_does_not_import_heavy_modules():
    code = ("import io, sys, contextlib; from lossdoctor.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out: rc = main(['--help'])\n"
            "assert rc == 0 and 'analyze' in out.getvalue()\n"
            "print([m for m in ('torch', 'scipy', 'numpy', 'rich') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_python_dash_m_entry_point():
    r = subprocess.run([sys.executable, "-m", "lossdoctor", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("lossdoctor ")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_schedule_that_is_neither_file_nor_pipe_is_refused_not_read(tmp_path):
    log = str(FIXTURES / "nanogpt" / "cpu_small" / "train.log")
    for bad in ("/dev/zero", str(tmp_path)):  # an endless stream, a directory
        code, out, err = run_cli("extrapolate", log, "--to", "600", "--schedule", bad, "--scenario", "custom")
        assert code == 2 and out == "" and f"--schedule {bad}: not a file or a pipe" in err
    pipe = tmp_path / "lrs"  # as analyze reads one: a named pipe no program writes to reads as empty, at once
    os.mkfifo(pipe)
    code, _, err = run_cli("extrapolate", log, "--to", "600", "--schedule", str(pipe), "--scenario", "custom")
    assert code == 2 and "a pipe that gave nothing (no program wrote to it, or it wrote nothing and closed it)" in err


def test_a_binary_schedule_file_is_refused_without_its_bytes(tmp_path):
    log = str(FIXTURES / "nanogpt" / "cpu_small" / "train.log")
    binary = tmp_path / "lrs.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    code, out, err = run_cli("extrapolate", log, "--to", "600", "--schedule", str(binary), "--scenario", "custom")
    assert code == 2 and not out and "a binary file, not text" in err and "\\x" not in err and len(err) < 400


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_is_an_error_of_the_machine_not_a_bug_to_report():
    log = str(FIXTURES / "nanogpt" / "cpu_small" / "train.log")
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "lossdoctor", "analyze", log, "--format", "json"], cwd=ROOT,
                              stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.startswith("lossdoctor: error: No space left on device")
    assert "internal error" not in done.stderr


def test_a_width_too_narrow_for_the_report_is_a_usage_error():
    log = str(FIXTURES / "nanogpt" / "cpu_small" / "train.log")
    code, out, err = run_cli("analyze", "--width", "5", log)
    assert code == 2 and out == "" and "--width: must be at least 40 columns: 5" in err
    code, out, _ = run_cli("analyze", "--width", "40", log)
    assert code == 0 and "Findings" in out and max(len(x) for x in out.splitlines()) <= 40


def test_a_console_narrower_than_the_report_is_laid_out_at_its_floor(monkeypatch):
    monkeypatch.setenv("COLUMNS", "8")  # a narrow pane: no flag to refuse, the report still whole
    code, out, _ = run_cli("analyze", str(FIXTURES / "nanogpt" / "cpu_small" / "train.log"))
    assert code == 0 and "Findings" in out and max(len(x) for x in out.splitlines()) == 40


@pytest.mark.parametrize("fmt", [["--format", "json"], []])  # json is printed; the report goes through rich
def test_a_reader_that_goes_away_ends_the_output_quietly(fmt):
    log = str(FIXTURES / "nanogpt" / "cpu_small" / "train.log")
    p = subprocess.Popen([sys.executable, "-m", "lossdoctor", "analyze", log, *fmt], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout is not None and p.stderr is not None
    p.stdout.close()  # as `| head` does once it has its lines
    with p.stderr:
        err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 141 and err == ""


@pytest.mark.parametrize("fmt", [["--format", "json"], ["-v"]])
def test_a_reader_that_goes_away_while_the_output_fills_the_pipe_ends_it_with_141(tmp_path, fmt):
    runs = []
    for name in "abc":  # three copies of a run: a report of 79 KB (-v) or 137 KB (json), past a pipe's 64
        (tmp_path / name).mkdir()
        shutil.copy(FIXTURES / "lossdoctor_train" / "readme_cpu_2000" / "train.log", tmp_path / name)
        runs.append(str(tmp_path / name))
    p = subprocess.Popen([sys.executable, "-m", "lossdoctor", "analyze", *runs, *fmt],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout is not None and p.stderr is not None
    with p.stdout:
        first = p.stdout.read(100)  # as `| head -c 100`: the writer blocks on the full pipe, then it closes
    with p.stderr:
        err = p.stderr.read().decode()
    assert first and p.wait(timeout=120) == 141 and err == ""


def test_train_asks_for_key_equals_value_and_takes_debug():
    code, _, err = run_cli("train", "--device=cpu", "--max_iters", "5")
    assert code == 2 and "--max_iters 5: config keys are given as --key=value" in err and "e.g. --max_iters=5" in err
    code, _, err = run_cli("train", "--device=cpu", "--learning_rate=-1", "--debug")  # the traceback, and still 2
    assert code == 2 and "Traceback (most recent call last)" in err and "learning_rate: must be >= 0" in err
    code, _, err = run_cli("analyze", "--debug", "no-such.log")  # 1 would read as findings at --fail-on
    assert code == 2 and "Traceback" in err


def test_verify_says_its_experiments_train_on_the_embedded_corpus_without_data():
    from lossdoctor.cli_verify import _data_note
    note = _data_note({"dataset": "shakespeare_char"}, None)[0]
    assert "'shakespeare_char'" in note and "embedded corpus (Python's own source text" in note
    assert _data_note({"dataset": "shakespeare_char"}, "input.txt") == ()
    assert _data_note({"dataset": "embedded"}, None) == ()  # what the run trained on itself


def test_sample_refuses_an_empty_start():
    code, _, err = run_cli("sample", str(FIXTURES / "nanogpt" / "tiny_resume"), "--start", "")
    assert code == 2 and "--start is empty" in err


def test_verify_refuses_group_flags_without_groups_one_log_in_both_arms_and_one_seed(tmp_path):
    log = str(FIXTURES / "nanogpt" / "cpu_small" / "train.log")
    code, _, err = run_cli("verify", log, "--step", "5", "--out", str(tmp_path / "v"))
    assert code == 2 and "--step: it is for groups of logs" in err
    code, _, err = run_cli("verify", "--baseline", log, log, "--treatment", log, log)
    assert code == 2 and "is in both --baseline and --treatment" in err
    code, _, err = run_cli("verify", "--seeds", "1", "--budget", "1s", "--out", str(tmp_path / "v"))
    assert code == 2 and "--seeds 1: at least 2" in err
    for given in (["--extrapolation"], ["--out", str(tmp_path / "x")], ["--budget", "1h"], ["--seeds", "5"],
                  ["--data", "nope"], ["--executor", "ray"], ["--device", "cuda"]):
        code, _, err = run_cli("verify", "--baseline", log, "--treatment", str(tmp_path / "t.log"), *given)
        assert code == 2 and f"verify {given[0]}: it is for experiments that train" in err
    assert not (tmp_path / "x").exists()
    code, _, err = run_cli("verify", "--nproc", "2", "--budget", "1s", "--out", str(tmp_path / "v"))
    assert code == 2 and "--nproc: it is for --executor torchrun" in err


def test_sample_refuses_two_vocabularies_at_once():
    code, _, err = run_cli("sample", "fixtures/lossdoctor_train/readme_cpu_2000", "--data", "x.txt", "--meta", "m.pkl")
    assert code == 2 and "--data and --meta both give the vocabulary" in err


def test_json_says_when_train_py_defaults_are_not_known_to_be_what_ran(tmp_path):
    lines = (ROOT / "fixtures" / "nanogpt" / "cpu_small" / "train.log").read_text().splitlines(keepends=True)
    (tmp_path / "bare.log").write_text("".join(x for x in lines if x.startswith(("step ", "iter "))))
    code, out, _ = run_cli("analyze", str(tmp_path / "bare.log"), "--format", "json")
    run = json.loads(out)["runs"][0]
    assert code == 0 and run["config_defaults_trusted"] is False and run["config_origin"]["dtype"] == "default"


def test_text_from_the_log_in_brackets_is_shown_as_written_not_read_as_markup(tmp_path):
    p = tmp_path / "run[1].log"  # a file name in brackets too
    p.write_text("step 0: train loss 4.2000, val loss 4.2000\niter 0: loss 4.2000, time 10.00ms, mfu -100.00%\n"
                 "iter 1: loss 4.1000, time 10.00ms, mfu -100.00%\nTraceback (most recent call last):\n"
                 '  File "train.py", line 1, in <module>\n'
                 "wandb.errors.UsageError: api_key not configured (no-tty). call wandb.login(key=[your_api_key])\n")
    code, out, err = run_cli("analyze", str(p), "--format", "plain", "--width", "200")
    assert "wandb.login(key=[your_api_key])" in out and "run[1].log" in out, out
    other = tmp_path / "run[bold].log"
    other.write_text(p.read_text())
    code, out, err = run_cli("analyze", str(p), str(other), "--format", "plain", "--width", "200")
    assert "Findings for run[bold].log" in out and "Findings for run[1].log" in out  # panel titles too


def test_an_event_text_cut_in_the_table_says_so(tmp_path):
    p = tmp_path / "train.log"
    p.write_text("step 0: train loss 4.2000, val loss 4.2000\niter 0: loss 4.2000, time 10.00ms, mfu -100.00%\n"
                 "UserWarning: " + "word " * 40 + "END\n")
    code, out, err = run_cli("analyze", str(p), "-v", "--format", "plain", "--width", "300")
    line = next(x for x in out.splitlines() if "UserWarning: word" in x)
    assert "…" in line and line.rstrip(" │").endswith("END") and line.count("word") < 40  # head and tail kept


@pytest.mark.skipif(not os.path.exists("/dev/stdin"), reason="needs /dev/stdin")
def test_dash_reads_the_log_from_stdin():
    log = (FIXTURES / "nanogpt" / "cpu_small" / "train.log").read_bytes()
    r = subprocess.run([sys.executable, "-m", "lossdoctor", "analyze", "-", "--format", "json"], input=log,
                       capture_output=True)
    assert r.returncode in (0, 1) and json.loads(r.stdout)["runs"][0]["facts"]["steps_done"] == 301


def test_a_width_past_the_bound_is_a_usage_error():
    code, out, err = run_cli("analyze", str(FIXTURES / "nanogpt" / "cpu_small"), "--width", "100000")
    assert code == 2 and "must be at most 1,000 columns" in err and out == ""


def test_rules_show_names_the_rules_a_shared_name_could_mean(tmp_path):
    from conftest import DEMO_RULE
    (tmp_path / "a.yaml").write_text(DEMO_RULE)
    (tmp_path / "b.yaml").write_text(DEMO_RULE.replace("XY001-demo", "XY002-demo"))
    code, out, err = run_cli("rules", "show", "demo", "--rules", str(tmp_path))
    assert code == 2 and "XY001-demo, XY002-demo" in err
    assert run_cli("rules", "show", "XY002", "--rules", str(tmp_path))[0] == 0
    code, out, _ = run_cli("rules", "show", "ld101")  # an id in any case
    assert code == 0 and "LD101-still-improving" in out


@pytest.mark.parametrize("action", [("list",), ("show", "XY001"), ("doc",)])
def test_rules_list_show_and_doc_exit_2_where_a_rule_did_not_load(tmp_path, action):
    """What loaded is shown, and the rule left out is said on stderr with exit status 2, as
    analyze --rules stops: docs made from a folder with a broken rule would leave it out."""
    from conftest import DEMO_RULE
    (tmp_path / "a.yaml").write_text(DEMO_RULE)
    (tmp_path / "b.yaml").write_text(DEMO_RULE.replace("XY001-demo", "XY002-typo").replace("max_iters <", "maxiters <"))
    code, out, err = run_cli("rules", *action, "--rules", str(tmp_path))
    assert code == 2 and "XY001" in out and "rule not loaded" in err and "XY002-typo" in err


def test_a_level_given_in_percent_and_stdin_from_a_device_are_usage_errors(monkeypatch):
    log = str(FIXTURES / "nanogpt" / "cpu_small" / "train.log")
    code, out, err = run_cli("extrapolate", log, "--to", "900", "--level", "95")
    assert code == 2 and not out
    assert "argument --level: must be between 0 and 1 (0.95 for 95%): 95" in err
    assert run_cli("extrapolate", log, "--to", "900", "--level", "0.95")[0] == 0
    from lossdoctor import cli_args
    monkeypatch.setattr(cli_args, "STDIN", os.devnull)  # `lossdoctor analyze - < /dev/null`
    code, out, err = run_cli("analyze", "-")
    assert code == 2 and "- (stdin) is a terminal or a device, not a log: pipe one in" in err


@pytest.mark.parametrize("budget, said", [
    ("-5m", "must be positive: -5m"), ("-1h30m", "must be positive: -1h30m"), ("-5", "must be positive: -5"),
    ("-5x", "not a duration: -5x"), ("0", "must be positive: 0")])
def test_a_budget_below_zero_is_told_as_one_not_as_a_missing_argument(budget, said):
    code, out, err = run_cli("verify", "--budget", budget)
    assert code == 2 and not out and f"argument --budget: {said}" in err and "expected one argument" not in err


def test_a_path_after_the_end_of_options_is_read_as_a_path_whatever_it_looks_like(tmp_path, monkeypatch):
    import shutil
    shutil.copy(ROOT / "fixtures" / "lossdoctor_train" / "readme_cpu_2000" / "train.log", tmp_path / "-1.log")
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli("analyze", "--format", "json", "--", "-1.log")
    assert code == 0 and json.loads(out)["runs"][0]["source"] == "-1.log"


@pytest.mark.parametrize("fmt", ["plain", "markdown"])
def test_an_interval_level_is_shown_with_the_digits_it_has(fmt):
    log = str(FIXTURES / "nanogpt" / "cpu_small" / "train.log")
    for level, shown in (("0.995", "99.5% interval"), ("0.004", "0.4% interval"), ("0.8", "80% interval")):
        code, out, _ = run_cli("extrapolate", log, "--to", "900", "--level", level, "--format", fmt)
        assert code == 0 and shown in out and "100% interval" not in out and " 0% interval" not in out


@pytest.mark.parametrize("term", ["xterm-256color", "dumb"])
def test_rich_asked_for_is_colour_where_the_output_is_no_terminal(monkeypatch, term):
    monkeypatch.setenv("TERM", term)
    monkeypatch.delenv("NO_COLOR", raising=False)
    log = str(FIXTURES / "nanogpt" / "cpu_small" / "train.log")
    assert "\x1b[3" in run_cli("analyze", log, "--format", "rich", "--width", "80")[1]  # a colour, not bold alone
    for fmt in ([], ["--format", "plain"]):  # the default off a terminal is plain
        assert "\x1b[" not in run_cli("analyze", log, "--width", "80", *fmt)[1]


def test_extrapolate_refusing_a_folders_log_names_that_log(tmp_path):
    (tmp_path / "train.log").write_text("step 0: train loss 4.0000, val loss 4.0000\n")
    code, out, err = run_cli("extrapolate", str(tmp_path), "--to", "100")
    assert code == 2 and not out
    assert err.startswith(f"lossdoctor: error: {tmp_path / 'train.log'}: cannot extrapolate")


def test_extrapolate_refusing_a_folder_with_a_checkpoint_names_its_log_alone():
    folder = FIXTURES / "nanogpt" / "tiny_resume"  # its log and ckpt.pt, read as one run
    code, _, err = run_cli("extrapolate", str(folder), "--to", "100000")
    assert code == 2 and err.startswith(f"lossdoctor: error: {folder / 'train.log'}: cannot extrapolate")


def test_train_refuses_what_would_train_by_accident(tmp_path):
    empty = tmp_path / "empty.yaml"
    empty.write_text("# nothing set\n")
    code, out, err = run_cli("train", str(empty))  # train.py's defaults: GPT-2 124M for 600,000 steps
    assert code == 2 and "sets no config key" in err and not out
    other = tmp_path / "config.txt"
    other.write_text("n_layer = 2\n")
    code, _, err = run_cli("train", str(other))
    assert code == 2 and "a config file is a nanoGPT .py or a .yaml mapping" in err
    code, _, err = run_cli("train", "-v")
    assert code == 2 and "-v: unknown option" in err
    code, _, err = run_cli("train", "--device=cpu", f"--seed={2**64}")
    assert code == 2 and "config key seed: must be in [0, 2**63)" in err
    code, _, err = run_cli("sample", "x", "--seed", str(2**64))
    assert code == 2 and "internal error" not in err and "torch.manual_seed's range" in err
    for bad in ("--n_layr=2", "--data=", f"--data={tmp_path / 'none.txt'}"):  # refused before any announcement
        code, _, err = run_cli("train", "--device=cpu", bad)
        assert code == 2 and "README CPU config" not in err and err.count("\n") == 1, err


def test_sample_refuses_more_characters_than_it_could_write_in_minutes():
    code, _, err = run_cli("sample", "fixtures/lossdoctor_train/tiny/ckpt.pt", "--max-new-tokens", "1e11")
    assert code == 2 and "at most 100,000 characters a sample" in err


def test_an_option_spelt_with_underscores_is_told_its_dashed_name():
    # nanoGPT's sample.py takes --max_new_tokens; lossdoctor sample --max-new-tokens
    code, _, err = run_cli("sample", "fixtures/lossdoctor_train/tiny/ckpt.pt", "--max_new_tokens", "10")
    assert code == 2 and "unrecognized arguments: --max_new_tokens 10; did you mean --max-new-tokens?" in err
    code, _, err = run_cli("analyze", "fixtures/nanogpt/cpu_small/train.log", "--bogus")
    assert code == 2 and "did you mean" not in err


def test_an_error_wrapped_for_a_person_keeps_a_backticked_command_whole(monkeypatch):
    import io

    from lossdoctor.cli_exits import wrapped
    monkeypatch.setenv("COLUMNS", "60")
    text = ("lossdoctor: error: x.log: binary file (it begins with 3 NUL bytes: remove them, e.g. "
            "`tr -d '\\000' < LOG > LOG.txt`)")
    out = wrapped(text, io.StringIO())
    assert "`tr -d '\\000' < LOG > LOG.txt`" in out.splitlines()[-1] and " ".join(out.split()) == text
    assert "\ue000" not in out


def test_a_usage_error_keeps_the_help_command_it_points_to_on_one_line(monkeypatch):
    import io

    from lossdoctor.cli_exits import wrapped
    monkeypatch.setenv("COLUMNS", "80")
    text = "lossdoctor: error: verify: unrecognized arguments: --dry-run (lossdoctor verify --help shows the usage)"
    out = wrapped(text, io.StringIO())
    assert any("lossdoctor verify --help" in x for x in out.splitlines()) and " ".join(out.split()) == text
