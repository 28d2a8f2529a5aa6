"""The bad-input corpus: broken protocols, special files and command-line mistakes.

Every case is run as a user would (``python -m trialsim …`` in an empty working folder, with
``--out`` inside the test's folder) and must give exit status 2, one line on stderr that
contains the case's fragment, no traceback, and leave nothing new anywhere in the test's
folder: no run folder, no ``.partial-*``, no ``outputs/`` in the working folder.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import ROOT

GOOD = ROOT / "protocols" / "ld-il2-vs-placebo.toml"
BASE = GOOD.read_text(encoding="utf-8")
WEEKS = "weeks = [0, 2, 4, 6, 8, 10, 12, 16, 20, 24]"
REGIMEN = "regimen = { dose_miu = 1.0, every_days = 2, on_days = 14, off_days = 14, cycles = 3 }"

Setup = Callable[[Path], list[str]]


@dataclass(frozen=True)
class Case:
    id: str
    setup: Setup               # writes what it needs into the folder, returns the arguments
    fragment: str | tuple[str, ...]   # must appear in the one-line message
    env: dict[str, str] = field(default_factory=dict)


def _edit(text: str, *pairs: tuple[str, str]) -> str:
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def protocol(*pairs: tuple[str, str], name: str = "broken.toml", command: str = "run",
             extra: tuple[str, ...] = ()) -> Setup:
    """The default protocol with text replacements, run (or validated) from a file."""
    def setup(tmp: Path) -> list[str]:
        path = tmp / name
        path.write_text(_edit(BASE, *pairs), encoding="utf-8")
        return _command(command, path, tmp, extra)
    return setup


def raw(content: str | bytes, name: str = "broken.toml", command: str = "run") -> Setup:
    def setup(tmp: Path) -> list[str]:
        path = tmp / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return _command(command, path, tmp, ())
    return setup


def args(*argv: str) -> Setup:
    """Literal arguments; ``{good}`` is the default protocol, ``{out}`` the output root,
    ``{tmp}`` the test's folder."""
    def setup(tmp: Path) -> list[str]:
        return [a.format(good=GOOD, out=tmp / "out", tmp=tmp) for a in argv]
    return setup


def special(make: Callable[[Path], Path], command: str = "run") -> Setup:
    def setup(tmp: Path) -> list[str]:
        return _command(command, make(tmp), tmp, ())
    return setup


def _command(command: str, path: Path, tmp: Path, extra: tuple[str, ...]) -> list[str]:
    if command == "run":
        return ["run", str(path), "--out", str(tmp / "out"), *extra]
    return [command, str(path), *extra]


def _weeks(weeks: list[float]) -> str:
    return "weeks = [" + ", ".join(f"{w:g}" for w in weeks) + "]"


def _fifo(tmp: Path) -> Path:
    path = tmp / "pipe.toml"
    os.mkfifo(path)
    return path


def _socket(tmp: Path) -> Path:
    path = tmp / "sock.toml"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    s.close()
    return path


def _folder(tmp: Path) -> Path:
    (tmp / "folder.toml").mkdir()
    return tmp / "folder.toml"


def _big(tmp: Path) -> Path:
    path = tmp / "big.toml"
    path.write_text(BASE + "# " + "x" * 1_100_000 + "\n", encoding="utf-8")
    return path


def _loop(tmp: Path) -> Path:
    (tmp / "loop.toml").symlink_to(tmp / "loop.toml")
    return tmp / "loop.toml"


def _dangling(tmp: Path) -> Path:
    (tmp / "dangling.toml").symlink_to(tmp / "nowhere.toml")
    return tmp / "dangling.toml"


def _through_file(tmp: Path) -> Path:
    (tmp / "plain").write_text("")
    return tmp / "plain" / "p.toml"


def _bracket_dir(tmp: Path) -> Path:
    """A path whose text contains the closing markup tag ``[/b]``."""
    (tmp / "d[").mkdir()
    path = tmp / "d[" / "b].toml"
    path.write_text(_edit(BASE, ("dose_miu = 1.0", "dose_miu = -1.0")), encoding="utf-8")
    return path


def _run_folder_without_summary(tmp: Path) -> Path:
    (tmp / "run").mkdir()
    (tmp / "run" / "protocol.toml").write_text(BASE, encoding="utf-8")
    return tmp / "run"


def _run_folder_bad_summary(tmp: Path) -> Path:
    path = _run_folder_without_summary(tmp)
    (path / "summary.json").write_text("{not json", encoding="utf-8")
    return path


DENSE = ("regimen = { dose_miu = 1.0, every_days = 2, on_days = 14, off_days = 14, "
         "cycles = 3 }", "regimen = { dose_miu = 0.1, every_days = 0.05 }")
LONG_TRIAL = (WEEKS, _weeks([0, 2, 4, 12, 24, 52, 104, 260, 520]))
MANY_VISITS = [round(0.2 * i, 1) for i in range(2401)]

CASES: list[Case] = [
    # 1. square brackets are text, never markup
    Case("markup-closing-tag-in-value", protocol(('name = "placebo"', 'name = "[/b]"')),
         'arm[0].name must be a name of letters, digits'),
    Case("markup-opening-tag-in-name", protocol(('name = "ld-il2-vs-placebo"',
                                                 'name = "[bold]x"')), '(got "[bold]x")'),
    Case("markup-in-unknown-key", protocol(("[population]\n", '[population]\n"[/b]" = 1\n')),
         'population."[/b]" is not a known key'),
    Case("markup-in-literal-value", protocol(('primary = "sri4"', 'primary = "[red]sri4"')),
         "(got \"[red]sri4\")"),
    Case("markup-in-protocol-path", special(_bracket_dir), "d[/b].toml: arm[1].regimen.dose_miu"),
    Case("markup-in-missing-path", args("validate", "{tmp}/nope[/b].toml"),
         "nope[/b].toml: no such protocol file"),
    Case("markup-in-out-with-bad-protocol",
         args("run", "{tmp}/absent.toml", "--out", "{tmp}/o[/x]"), "absent.toml"),
    # 2. sided is the integer 1 or 2
    Case("sided-true", protocol(("sided = 2", "sided = true")),
         "analysis.sided must be the integer 1 or 2 (got true)"),
    Case("sided-float", protocol(("sided = 2", "sided = 2.0")),
         "analysis.sided must be the integer 1 or 2 (got 2.0)"),
    Case("sided-three", protocol(("sided = 2", "sided = 3")), "analysis.sided must be one of"),
    Case("sided-string", protocol(("sided = 2", 'sided = "2"')), "analysis.sided"),
    # 5. resource limits, refused before simulating
    Case("n-two-million-option", args("run", "{good}", "--n", "2000000", "--out", "{out}"),
         "population.n = 2000000 with 10 visits (visits.weeks) needs about"),
    Case("n-two-million-file", protocol(("n = 60", "n = 2000000")),
         "GB of memory (limit 4.0 GB"),
    Case("many-visits", protocol((WEEKS, _weeks(MANY_VISITS)), ("week = 24", "week = 480"),
                                 ("n = 60", "n = 5000")), "with 2,401 visits"),
    Case("dense-dosing", protocol(DENSE, LONG_TRIAL, ("n = 60", "n = 20000")),
         "arm[1].regimen gives 72,800 doses"),
    Case("endless-tiny-cycles", protocol((REGIMEN, "regimen = { dose_miu = 1.0, every_days "
                                          "= 2, on_days = 1e-300, off_days = 1e-300 }")),
         "arm[1].regimen repeats"),
    Case("screening-ceiling", protocol(("min_sledai = 8 ", "min_sledai = 105\n"
                                        "max_screened_per_enrolled = 1e12 ")),
         "population.max_screened_per_enrolled = 1e+12 lets one trial screen"),
    Case("years-of-replicates", protocol(("replicates = 1 ", "replicates = 1000000 "),
                                         ("n = 60", "n = 20000")), "would take about"),
    Case("chunk-zero", args("run", "{good}", "--chunk", "0", "--out", "{out}"),
         "Invalid value for '--chunk'"),
    Case("chunk-huge", args("run", "{good}", "--chunk", "100000000", "--out", "{out}"),
         "Invalid value for '--chunk'"),
    Case("memory-budget-env", args("run", "{good}", "--out", "{out}"),
         "needs about 0.4 GB of memory (limit 0.1 GB", env={"TRIALSIM_MEMORY_GB": "0.1"}),
    Case("memory-budget-env-not-a-number", args("run", "{good}", "--out", "{out}"),
         "TRIALSIM_MEMORY_GB must be a positive number", env={"TRIALSIM_MEMORY_GB": "lots"}),
    Case("calibrate-replicates-huge", args("calibrate", "--replicates", "1000000000"),
         "Invalid value for '--replicates'"),
    # 6. special files are refused without reading them
    Case("fifo", special(_fifo), "is a FIFO (named pipe)"),
    Case("fifo-validate", special(_fifo, "validate"), "is a FIFO (named pipe)"),
    Case("dev-zero", args("run", "/dev/zero", "--out", "{out}"), "/dev/zero: is a device"),
    Case("dev-null-validate", args("validate", "/dev/null"), "/dev/null: is a device"),
    Case("socket", special(_socket), "is a socket"),
    Case("folder", special(_folder), "is a folder, not a protocol file"),
    Case("over-one-megabyte", special(_big), "a protocol must be at most 1,000,000 bytes"),
    Case("symlink-loop", special(_loop), "cannot be read (Too many levels of symbolic links)"),
    Case("dangling-symlink", special(_dangling), "dangling.toml: no such protocol file"),
    Case("path-through-a-file", special(_through_file), "no such protocol file"),
    Case("missing-file", args("run", "{tmp}/absent.toml", "--out", "{out}"),
         "absent.toml: no such protocol file"),
    Case("not-utf8", raw(b"[trial]\nname = \"\xff\xfe\"\n"),
         "is not UTF-8 text (byte 0xff on line 2)"),
    Case("empty-file", raw(""), "trial is required; population is required"),
    # 7. every problem, with did-you-mean
    Case("misspelt-required-key", protocol(("n = 60", "nn = 60")),
         ("population.nn is not a known key (did you mean n?", "; population.n is required")),
    Case("misspelt-section", protocol(("[[arm]]", "[[arms]]")),
         "arms is not a known key (did you mean arm?"),
    Case("misspelt-regimen-key", protocol(("dose_miu = 1.0", "dose_mg = 1.0")),
         "arm[1].regimen.dose_mg is not a known key (did you mean dose_miu?"),
    Case("misspelt-analysis-key", protocol(("dropout_per_year", "dropout_per_yr")),
         "analysis.dropout_per_yr is not a known key (did you mean dropout_per_year?"),
    Case("unknown-top-level-key", raw("colour = \"blue\"\n" + BASE),
         "colour is not a known key (allowed: trial, population, arm"),
    Case("two-problems", protocol(("dose_miu = 1.0", "dose_miu = -1.0"),
                                  ("alpha = 0.05", "alpha = 0.7")),
         "arm[1].regimen.dose_miu must be > 0.0 (got -1.0); analysis.alpha must be < 0.5"),
    Case("many-problems-counted", protocol(("[trial]\n", "[trial]\n" + "".join(
        f"x{i} = {i}\n" for i in range(30)))),
         ("trial.x0 is not a known key (allowed: name, seed, replicates); "
          "trial.x1 is not a known key; ", "; and 20 more problems")),
    # 8. offending values are cut
    Case("huge-name", protocol(('name = "ld-il2-vs-placebo"', 'name = "' + "a" * 500_000 + '"')),
         "trial.name must be at most 80 characters long (got 500000: \"aaaa"),
    Case("huge-unknown-key", protocol(("[population]\n", "[population]\n" + "k" * 20_000
                                       + " = 1\n")), 'kkkkkkkk…" is not a known key'),
    Case("huge-visit-list-echo", protocol((WEEKS, _weeks([round(0.7 * i, 1)
                                                          for i in range(700)]))),
         "endpoint.week must be one of the visit weeks [0.0, 0.7, 1.4"),
    # 9. one line whatever the file name
    Case("newline-in-missing-name", args("validate", "{tmp}/a\nb.toml"),
         "a\\nb.toml: no such protocol file"),
    Case("newline-in-name", protocol(("dose_miu = 1.0", "dose_miu = -1.0"), name="x\ny.toml"),
         "x\\ny.toml: arm[1].regimen.dose_miu"),
    Case("escape-sequence-in-name", protocol(("n = 60", "n = 1"), name="\x1b[31mred.toml"),
         "\\x1b[31mred.toml: population.n must be >= 2"),
    Case("newline-in-value", protocol(('primary = "sri4"', 'primary = "sri4\\nsri6"')),
         'endpoint.primary must be one of'),
    Case("usage-bad-integer", args("run", "{good}", "--n", "abc", "--out", "{out}"),
         "trialsim run: Invalid value for '--n'"),
    Case("usage-missing-argument", args("run", "--out", "{out}"),
         "Missing argument 'protocol'"),
    Case("usage-unknown-command", args("simulate", "{good}"), "No such command 'simulate'"),
    Case("usage-unknown-option", args("run", "{good}", "--colour", "--out", "{out}"),
         "No such option: --colour"),
    Case("usage-extra-argument", args("validate", "{good}", "{good}"),
         "unexpected extra argument"),
    Case("usage-huge-seed", args("run", "{good}", "--seed", "9" * 5000, "--out", "{out}"),
         "Invalid value for '--seed'"),
    Case("override-negative-seed", args("run", "{good}", "--seed", "-1", "--out", "{out}"),
         "(with command-line overrides): trial.seed must be >= 0 (got -1)"),
    Case("override-zero-replicates", args("run", "{good}", "--replicates", "0", "--out",
                                          "{out}"), "trial.replicates must be >= 1"),
    Case("override-n-one", args("run", "{good}", "--n", "1", "--out", "{out}"),
         "population.n must be >= 2 (got 1)"),
    Case("out-is-a-file", args("run", "{good}", "--out", str(GOOD)),
         "cannot create the output folder"),
    Case("rerun-missing-folder", args("rerun", "{tmp}/no-run"), "no-run: no such run folder"),
    Case("rerun-without-summary", special(_run_folder_without_summary, "rerun"),
         "summary.json: missing"),
    Case("rerun-bad-summary", special(_run_folder_bad_summary, "rerun"),
         "summary.json: is not valid JSON"),
    # 10. dosing must start within the trial
    Case("start-day-after-trial", protocol(("cycles = 3 }", "cycles = 3, start_day = 500 }")),
         "arm[1].regimen.start_day must be before the last visit, day 168 (week 24) "
         "(got 500)"),
    Case("start-day-at-last-visit", protocol(("cycles = 3 }", "cycles = 3, start_day = 168 }")),
         "arm[1].regimen.start_day must be before the last visit"),
    # TOML that does not parse
    Case("toml-syntax", protocol(("[trial]", "[trial")), "is not valid TOML"),
    Case("toml-duplicate-key", protocol(("n = 60", "n = 60\nn = 61")), "is not valid TOML"),
    Case("toml-deep-nesting", raw("x = " + "[" * 100_000), "nest too deeply"),
    Case("toml-huge-integer", raw("[trial]\nseed = " + "9" * 5000 + "\n"),
         "is not valid TOML (a number is too long)"),
    # values of the wrong type or out of range
    Case("datetime-for-n", protocol(("n = 60", "n = 1979-05-27")),
         "population.n must be an integer (got 1979-05-27)"),
    Case("string-for-n", protocol(("n = 60", 'n = "60"')),
         'population.n must be an integer (got "60")'),
    Case("array-for-section", raw('trial = [1, 2]\n' + BASE.replace("[trial]", "[trial2]")),
         "trial must be a table"),
    Case("arm-as-table", raw(BASE.split("[[arm]]")[0] + '[arm]\nname = "x"\n'),
         "arm must be an array"),
    Case("single-arm", raw(BASE.split("[[arm]]")[0] + '[[arm]]\nname = "x"\n'
                           + "[visits]\n" + WEEKS + '\n[endpoint]\nweek = 24\n'),
         "arm must have at least 2 items (got 1)"),
    Case("negative-dose", protocol(("dose_miu = 1.0", "dose_miu = -1.0")),
         "arm[1].regimen.dose_miu must be > 0.0 (got -1.0)"),
    Case("infinite-dose", protocol(("dose_miu = 1.0", "dose_miu = inf")),
         "arm[1].regimen.dose_miu must be a finite number"),
    Case("nan-week", protocol((WEEKS, "weeks = [0, nan, 24]")), "visits.weeks[1]"),
    Case("endpoint-not-a-visit", protocol(("week = 24", "week = 30")),
         "endpoint.week must be one of the visit weeks"),
    Case("weeks-not-increasing", protocol((WEEKS, "weeks = [0, 4, 2, 24]")),
         "visits.weeks must be strictly increasing"),
    Case("weeks-not-from-zero", protocol((WEEKS, "weeks = [1, 2, 24]")),
         "visits.weeks must start at 0"),
    Case("weeks-past-ten-years", protocol((WEEKS, "weeks = [0, 24, 600]")),
         "visits.weeks must end by week 520"),
    Case("female-fraction-above-one", protocol(("female_fraction = 0.925",
                                                "female_fraction = 1.5")),
         "population.female_fraction must be <= 1.0 (got 1.5)"),
    Case("age-reversed", protocol(("age = { min = 18, max = 65 }",
                                   "age = { min = 65, max = 18 }")),
         "population.age must be valid: min must be < max"),
    Case("unknown-ancestry", protocol(("asian = 1.0", "martian = 1.0")),
         "population.ancestry"),
    Case("zero-ancestry-weights", protocol(("asian = 1.0", "asian = 0.0")),
         "population.ancestry needs a weight > 0"),
    Case("duplicate-arm-names", protocol(('name = "il2-1miu"', 'name = "placebo"')),
         "arm names must be unique (repeated: placebo)"),
    Case("no-control", protocol(('name = "placebo"\nratio = 1',
                                 'name = "placebo"\nratio = 1\n' + REGIMEN)),
         "arm needs a control"),
    Case("two-controls", protocol(('name = "placebo"\nratio = 1',
                                   'name = "placebo"\ncontrol = true\nratio = 1'),
                                  ('name = "il2-1miu"\nratio = 1',
                                   'name = "il2-1miu"\ncontrol = true\nratio = 1')),
         "arm[1].control only one arm can be control"),
    Case("block-size-not-multiple", protocol(("[randomization]\n",
                                              "[randomization]\nblock_size = 3\n")),
         "randomization.block_size must be a multiple"),
    Case("unknown-stratum", protocol(('stratify_by = ["sledai_ge10"]',
                                      'stratify_by = ["blood_group"]')),
         "randomization.stratify_by[0] must be one of"),
    Case("unknown-test", protocol(('test = "chisq"', 'test = "ttest"')),
         "analysis.test must be one of 'chisq', 'chisq-yates', 'fisher', 'cmh' or 'logistic' "
         "(got \"ttest\")"),
    Case("unknown-endpoint", protocol(('primary = "sri4"', 'primary = "sri7"')),
         "endpoint.primary must be one of"),
    Case("alpha-half", protocol(("alpha = 0.05", "alpha = 0.5")), "analysis.alpha must be < 0.5"),
    Case("dropout-certain", protocol(("dropout_per_year = 0.04", "dropout_per_year = 1.0")),
         "analysis.dropout_per_year must be < 1.0"),
    Case("unknown-route", protocol(("cycles = 3 }", 'cycles = 3, route = "im" }')),
         "arm[1].regimen.route must be one of 'sc' or 'iv'"),
    Case("cycles-without-on-days", protocol((REGIMEN, "regimen = { dose_miu = 1.0, "
                                             "every_days = 2, cycles = 3 }")),
         "cycles needs on_days"),
    Case("name-with-space", protocol(('name = "ld-il2-vs-placebo"', 'name = "my trial"')),
         'trial.name must be a name of letters, digits, \'-\', \'_\' or \'.\' (got "my trial")'),
    Case("ratio-zero", protocol(('name = "placebo"\nratio = 1', 'name = "placebo"\nratio = 0')),
         "arm[0].ratio must be >= 1 (got 0)"),
    Case("min-sledai-impossible", protocol(("min_sledai = 8 ", "min_sledai = 200 ")),
         "population.min_sledai must be <= 105 (got 200)"),
]


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "trialsim", *argv], capture_output=True,
                          text=True, cwd=cwd, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **env})


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_cleanly(case: Case, tmp_path: Path) -> None:
    argv = case.setup(tmp_path)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    before = _tree(tmp_path)
    res = _run(argv, cwd, case.env)
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    assert "Traceback" not in res.stdout + res.stderr
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr[-2000:]
    assert lines[0].startswith("error: ")
    fragments = (case.fragment,) if isinstance(case.fragment, str) else case.fragment
    for fragment in fragments:
        assert fragment in lines[0], lines[0][:3000]
    assert len(lines[0]) <= 2100
    assert res.stdout == ""
    assert _tree(tmp_path) == before, _tree(tmp_path) - before
