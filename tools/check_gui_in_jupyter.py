"""Check the constrained-NMF form as a user meets it: in a real JupyterLab page.

Install what the check needs (not package dependencies), then run it from the
repository root::

    apt-get install -y chromium chromium-driver     # Debian's browser + driver
    python -m pip install -q -e ".[gui]" jupyterlab selenium
    python tools/check_gui_in_jupyter.py [--output gui_check/] [--timeout 300] [--strict]

What it does:

1. writes a small notebook: a simulated 8 x 8 scan of 32 x 32 patterns,
   ``constrained_nmf_gui(s, toolkit="ipywidgets", output_dimension=3,
   n_init=1, max_iter=50, random_state=0)`` and a cell that prints the shape
   of ``s.learning_results.factors``;
2. starts JupyterLab on a free localhost port with a random token, no
   browser, its configuration, settings and runtime files in a temporary
   folder;
3. drives headless Chromium (``/usr/bin/chromium`` through
   ``/usr/bin/chromedriver``, with selenium; nothing is downloaded) to open
   the notebook and run all cells from the "Run" menu;
4. waits for the form to render and checks its controls (labels, fields and
   their preset values, the Run and Close buttons); labels cut by their box
   are reported as warnings;
5. clicks Run, waits for the status line to say "Done", runs the last cell
   again and checks that the factors reached ``s.learning_results``;
6. saves screenshots of the page and of the form (``01_form.png``,
   ``02_form_element.png``, ``03_done.png``, ``04_done_element.png``,
   ``05_results.png``; ``06_log_console.png`` when the fit printed into
   JupyterLab's Log Console) in ``--output``, plus ``jupyter_server.log`` and
   ``check_notebook.ipynb``; on failure ``failure.png``;
7. shuts the browser and the server down.

Problems a user would see but that do not stop the fit (labels cut by their
box, output of the Run click that lands in JupyterLab's Log Console instead
of the notebook) are printed as warnings; ``--strict`` makes them failures.

Exits 0 when every check passed, 1 with a message naming the failed check
otherwise, 2 when a prerequisite (Chromium, chromedriver, jupyterlab,
selenium) is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "check_notebook.ipynb"
INSTALL = (
    "apt-get install -y chromium chromium-driver && "
    'python -m pip install -q -e ".[gui]" jupyterlab selenium'
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1400",
]
PRESET = {"output_dimension": 3, "n_init": 1, "max_iter": 50, "random_state": 0}

CELLS = [
    "from hyperspy_cnmf.data import simulated_4dstem\n"
    "\n"
    "s = simulated_4dstem(navigation_shape=(8, 8), signal_shape=(32, 32))\n"
    "s",
    "from hyperspy_cnmf.gui import constrained_nmf_gui\n"
    "\n"
    'params = constrained_nmf_gui(s, toolkit="ipywidgets", '
    + ", ".join(f"{key}={value!r}" for key, value in PRESET.items())
    + ")",
    "factors = s.learning_results.factors\n"
    'print("factors:", None if factors is None else factors.shape)',
]

# Texts the form must show (hyperspy_cnmf/gui/ipywidgets.py).
EXPECTED_TEXTS = [
    "Number of components",
    "Diffraction factors",
    "Radial continuity",
    "Outlier factor",
    "Centre x (px)",
    "Centre y (px)",
    "Pure phases",
    "Maps",
    "Smoothing",
    "Solver",
    "Restarts (n_init)",
    "Max iterations",
    "Tolerance",
    "Compression",
    "Random seed",
]
EXPECTED_BUTTONS = ["Calibrated", "Middle", "Run", "Close"]
# Label -> value its field must show (the preset traits and the defaults).
EXPECTED_VALUES = {
    "Number of components": str(PRESET["output_dimension"]),
    "Restarts (n_init)": str(PRESET["n_init"]),
    "Max iterations": str(PRESET["max_iter"]),
    "Random seed": str(PRESET["random_state"]),
    "Outlier factor": "2",
    "Centre x (px)": "15.5",
    "Centre y (px)": "15.5",
    "Compression": "auto",
}
# Shown only for smoothing="probe_fwhm".
EXPECTED_HIDDEN = ["Probe FWHM", "Probe units"]
EXPECTED_FACTORS = "factors: (1024, 3)"

# JavaScript run in the page -------------------------------------------------

JS_FORM = """
const boxes = [...document.querySelectorAll('.jp-OutputArea-output .widget-vbox')]
  .filter(b => !b.parentElement.closest('.widget-vbox'));
return boxes.length ? boxes[0] : null;
"""

JS_ERRORS = """
const out = [];
for (const e of document.querySelectorAll(
    '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"],'
    + '.jp-RenderedText[data-mime-type="application/vnd.jupyter.error"]')) {
  const text = e.innerText;
  if (/Error|Traceback/.test(text)) out.push(text);
}
for (const e of document.querySelectorAll('.jp-OutputArea-output')) {
  const text = e.innerText;
  if (/Error displaying widget|model not found/i.test(text)) out.push(text);
}
return out;
"""

JS_DESCRIBE = """
const box = arguments[0];
const labelled = {};
for (const row of box.querySelectorAll('.widget-hbox')) {
  const label = row.querySelector(':scope > .widget-label');
  const input = row.querySelector(':scope input, :scope select');
  if (label && input) {
    let value = input.value;
    if (input.tagName === 'SELECT' && input.selectedIndex >= 0)
      value = input.options[input.selectedIndex].text;
    // ipywidgets writes option labels with non-breaking spaces
    labelled[label.innerText.replace(/\u00a0/g, ' ').trim()] =
      value.replace(/\u00a0/g, ' ');
  }
}
const clipped = [];
for (const e of box.querySelectorAll(
    '.widget-label, .widget-label-basic, label, button, .widget-html-content')) {
  if (e.offsetParent === null) continue;
  if (e.scrollWidth > e.clientWidth + 1)
    clipped.push(`${e.tagName.toLowerCase()} "${e.innerText.trim()}" `
                 + `(${e.scrollWidth}px of text in ${e.clientWidth}px)`);
}
const hidden = [];
for (const label of box.querySelectorAll('.widget-hbox > .widget-label'))
  if (label.offsetParent === null) hidden.push(label.innerText.trim());
const buttons = [...box.querySelectorAll('button')].map(b => b.innerText.trim());
return {text: box.innerText, labelled: labelled, clipped: clipped,
        buttons: buttons, hidden: hidden,
        width: box.getBoundingClientRect().width,
        height: box.getBoundingClientRect().height};
"""

JS_STATUS = """
const box = arguments[0];
const status = box.querySelector('.cnmf-status .widget-html-content');
if (status) return status.innerText;
const html = [...box.querySelectorAll('.widget-html-content')];
return html.length ? html[html.length - 1].innerText : null;
"""


class CheckFailed(Exception):
    """A check failed; the message says which."""


class Missing(Exception):
    """A prerequisite is missing."""


def log(message: str) -> None:
    print(message, flush=True)


# Setup ------------------------------------------------------------------------


def check_prerequisites(chromium: str, chromedriver: str) -> None:
    problems = []
    for name, path in (("Chromium", chromium), ("chromedriver", chromedriver)):
        if not (Path(path).is_file() and os.access(path, os.X_OK)):
            problems.append(f"{name} not found at {path}")
    for module in ("selenium", "jupyterlab", "ipywidgets", "hyperspy_cnmf"):
        try:
            __import__(module)
        except ImportError:
            problems.append(f"Python module {module!r} not importable")
    if problems:
        raise Missing("; ".join(problems))


def write_notebook(folder: Path) -> Path:
    def cell(source):
        return {
            "cell_type": "code",
            "execution_count": None,
            "metadata": {},
            "outputs": [],
            "source": source.splitlines(keepends=True),
        }

    notebook = {
        "cells": [cell(source) for source in CELLS],
        "metadata": {
            "kernelspec": {
                "display_name": "Python 3 (ipykernel)",
                "language": "python",
                "name": "python3",
            },
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = folder / NOTEBOOK
    path.write_text(json.dumps(notebook, indent=1), encoding="utf-8")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(tmp: Path, port: int, token: str, server_log: Path):
    """JupyterLab on 127.0.0.1:port, all its state under ``tmp``."""
    settings = tmp / "lab-settings"
    notification = settings / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    # No "news" toast over the page.
    (notification / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(tmp / "config"),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
        JUPYTER_PLATFORM_DIRS="1",
        MPLBACKEND="Agg",
        PYTHONUNBUFFERED="1",
    )
    command = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={tmp / 'notebooks'}",
        "--ServerApp.open_browser=False",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # containers and CI run as root
    log(f"$ {' '.join(command[:5])} --port={port} ... (log: {server_log})")
    stream = open(server_log, "w", encoding="utf-8")  # noqa: SIM115
    process = subprocess.Popen(
        command,
        cwd=tmp,
        env=env,
        stdout=stream,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    process.log_stream = stream
    return process


def wait_for_server(process, port: int, token: str, deadline: float) -> None:
    url = f"http://127.0.0.1:{port}/api/status"
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise CheckFailed(
                f"the Jupyter server exited with code {process.returncode} "
                "before answering (see jupyter_server.log)"
            )
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise CheckFailed("the Jupyter server did not answer in time")


def stop_server(process, port: int, token: str) -> None:
    if process is None:
        return
    if process.poll() is None:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/shutdown",
            method="POST",
            headers={"Authorization": f"token {token}"},
        )
        try:
            urllib.request.urlopen(request, timeout=10).close()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            # The server and its kernel were started in their own session.
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    process.log_stream.close()


def start_browser(chromium: str, chromedriver: str, profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in [*CHROMIUM_ARGS, f"--user-data-dir={profile}"]:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=chromedriver)
    return webdriver.Chrome(options=options, service=service)


# Driving the page -------------------------------------------------------------


def wait_until(condition, deadline: float, what: str, interval: float = 0.5):
    """Poll ``condition()`` until it returns a truthy value."""
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise CheckFailed(f"timed out waiting for {what}")


def find_one(driver, css: str):
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.CSS_SELECTOR, css)
    return found[0] if found else None


def kernel_status(driver) -> str | None:
    indicator = find_one(driver, ".jp-Notebook-ExecutionIndicator")
    return None if indicator is None else indicator.get_attribute("data-status")


def click_menu(driver, menu: str, item: str, deadline: float) -> None:
    """Click ``menu`` in JupyterLab's menu bar, then its entry ``item``."""
    from selenium.webdriver.common.by import By

    # A menu shows at once: do not spend the whole budget on a missing one.
    deadline = min(deadline, time.monotonic() + 30)

    def labelled(css, text):
        def find():
            for element in driver.find_elements(By.CSS_SELECTOR, css):
                if element.text.strip() == text:
                    return element
            return None

        return find

    bar_item = labelled(".lm-MenuBar-item", menu)
    wait_until(bar_item, deadline, f"the {menu!r} menu").click()
    entry = wait_until(
        labelled(".lm-Menu-itemLabel", item), deadline, f"{menu} > {item} in the menu"
    )
    entry.click()


def page_errors(driver) -> list[str]:
    return driver.execute_script(JS_ERRORS)


def fail_on_page_errors(driver) -> None:
    errors = page_errors(driver)
    if errors:
        raise CheckFailed("the notebook shows an error:\n" + "\n".join(errors))


def check_form(description: dict) -> list[str]:
    """Problems with the rendered form (empty list: it is complete)."""
    problems = []
    text = description["text"]
    for expected in EXPECTED_TEXTS:
        if expected not in text:
            problems.append(f"text {expected!r} missing from the form")
    for button in EXPECTED_BUTTONS:
        if button not in description["buttons"]:
            problems.append(f"button {button!r} missing")
    labelled = description["labelled"]
    for label, value in EXPECTED_VALUES.items():
        shown = labelled.get(label)
        if shown is None:
            problems.append(f"no field labelled {label!r}")
        elif shown != value and _as_float(shown) != _as_float(value):
            problems.append(f"field {label!r} shows {shown!r}, expected {value!r}")
    for label in EXPECTED_VALUES:
        if label in description["hidden"]:
            problems.append(f"field {label!r} is hidden")
    for label in EXPECTED_HIDDEN:
        if label not in description["hidden"]:
            problems.append(f"field {label!r} shows though smoothing is the paper's")
    if "3x3 Gaussian (paper)" != labelled.get("Smoothing"):
        problems.append(
            f"Smoothing shows {labelled.get('Smoothing')!r}, "
            "expected '3x3 Gaussian (paper)'"
        )
    return problems


def _as_float(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return text


def run_check(driver, url: str, output: Path, deadline: float) -> list[str]:
    """Drive the page; return warnings; raise CheckFailed on a failed check."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    log("open the notebook in JupyterLab")
    driver.get(url)
    wait_until(
        lambda: find_one(driver, ".jp-NotebookPanel .jp-Cell"),
        deadline,
        "the notebook to open",
    )
    wait_until(
        lambda: kernel_status(driver) == "idle",
        deadline,
        "the kernel to start (status 'idle')",
    )

    # "idle" can show a moment before the kernel takes requests: a click then
    # does nothing. Click again until the prompts show the cells ran.
    def cells_started():
        prompts = driver.find_elements("css selector", ".jp-InputPrompt")
        return any(p.text.strip() not in ("", "[ ]:") for p in prompts)

    for attempt in range(1, 4):
        time.sleep(2.0)
        log(f"Run > Run All Cells (try {attempt})")
        click_menu(driver, "Run", "Run All Cells", deadline)
        try:
            wait_until(cells_started, min(deadline, time.monotonic() + 15), "")
            break
        except CheckFailed:
            continue
    else:
        raise CheckFailed("Run > Run All Cells did not start the cells (3 tries)")

    def form_or_error():
        fail_on_page_errors(driver)
        return driver.execute_script(JS_FORM)

    form = wait_until(form_or_error, deadline, "the form to render")
    # Let the layout settle (fonts, hidden boxes) before looking at it.
    wait_until(lambda: kernel_status(driver) == "idle", deadline, "all cells to finish")
    time.sleep(1.0)
    fail_on_page_errors(driver)

    driver.execute_script("arguments[0].scrollIntoView({block: 'start'})", form)
    description = driver.execute_script(JS_DESCRIBE, form)
    driver.save_screenshot(str(output / "01_form.png"))
    form.screenshot(str(output / "02_form_element.png"))
    log(
        f"form rendered: {description['width']:.0f} x {description['height']:.0f}"
        f" px, fields {description['labelled']}"
    )
    problems = check_form(description)
    if problems:
        raise CheckFailed("the form is incomplete:\n  " + "\n  ".join(problems))
    warnings = [f"clipped: {item}" for item in description["clipped"]]
    status = driver.execute_script(JS_STATUS, form)
    if status not in ("", None):
        raise CheckFailed(f"the status line is not empty before Run: {status!r}")

    log("click Run")
    run_button = next(
        b
        for b in form.find_elements("css selector", "button")
        if b.text.strip() == "Run"
    )
    run_button.click()

    def done():
        fail_on_page_errors(driver)
        text = driver.execute_script(JS_STATUS, form) or ""
        if text.startswith("Failed"):
            raise CheckFailed(f"the form's status says: {text}")
        return text if text.startswith("Done") else None

    status = wait_until(done, deadline, "the status to say 'Done'")
    log(f"status: {status!r}")
    wait_until(lambda: kernel_status(driver) == "idle", deadline, "the fit to end")
    if not run_button.is_enabled():
        raise CheckFailed("the Run button stays disabled after the fit")
    time.sleep(0.5)
    driver.execute_script("arguments[0].scrollIntoView({block: 'start'})", form)
    driver.save_screenshot(str(output / "03_done.png"))
    form.screenshot(str(output / "04_done_element.png"))
    warnings += [
        f"clipped after Run: {item}"
        for item in driver.execute_script(JS_DESCRIBE, form)["clipped"]
        if f"clipped: {item}" not in warnings
    ]

    warnings += log_console_messages(driver, output, deadline)

    log("run the last cell again: the factors are in s.learning_results")
    last_input = driver.find_elements(
        "css selector", ".jp-NotebookPanel .jp-Cell .jp-InputArea-editor"
    )[-1]
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", last_input)
    last_input.click()
    ActionChains(driver).key_down(Keys.SHIFT).send_keys(Keys.ENTER).key_up(
        Keys.SHIFT
    ).perform()

    def factors_printed():
        fail_on_page_errors(driver)
        outputs = driver.find_elements(
            "css selector", ".jp-NotebookPanel .jp-Cell .jp-OutputArea-output"
        )
        texts = [o.text for o in outputs if "factors:" in o.text]
        if texts and "factors: None" not in texts[-1]:
            return texts[-1]
        return None

    printed = wait_until(factors_printed, deadline, "the last cell's new output")
    driver.save_screenshot(str(output / "05_results.png"))
    if EXPECTED_FACTORS not in printed:
        raise CheckFailed(f"the last cell printed {printed!r}, not {EXPECTED_FACTORS}")
    log(printed.strip())
    return warnings


def log_console_messages(driver, output: Path, deadline: float) -> list[str]:
    """What the Run click printed outside the notebook, in JupyterLab's log.

    Output of a widget callback belongs to no cell: JupyterLab counts it in
    the status bar's log item and shows it only in the Log Console. Open it,
    take a screenshot (``06_log_console.png``) and report its entries (the
    console stays open in the last screenshot).
    """
    item = find_one(driver, ".jp-LogConsoleStatusItem")
    count = None if item is None else item.text.strip()
    if not count or count == "0":
        return []
    item.click()
    wait_until(
        lambda: find_one(driver, ".jp-LogConsole .jp-OutputArea-output"),
        min(deadline, time.monotonic() + 20),
        "the log console",
    )
    time.sleep(0.5)
    driver.save_screenshot(str(output / "06_log_console.png"))
    entries = driver.execute_script(
        "return [...document.querySelectorAll("
        "'.jp-LogConsole .jp-OutputArea-output')].map(e => e.textContent)"
    )
    entries = [" ".join(text.split())[:160] for text in entries if text.strip()]
    return [
        f"Run printed {count} message(s) outside the notebook, into JupyterLab's "
        "Log Console (status-bar badge; see 06_log_console.png): " + " | ".join(entries)
    ]


def browser_errors(driver) -> list[str]:
    try:
        entries = driver.get_log("browser")
    except Exception:  # noqa: BLE001 - logging is optional
        return []
    return [e["message"] for e in entries if e.get("level") == "SEVERE"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("gui_check"),
        help="folder for the screenshots and logs (default gui_check/)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds for the whole check, server start included (default 300)",
    )
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="fail on warnings too (clipped labels, output in the Log Console)",
    )
    args = parser.parse_args(argv)

    try:
        check_prerequisites(args.chromium, args.chromedriver)
    except Missing as error:
        print(f"check_gui_in_jupyter: missing prerequisite: {error}", file=sys.stderr)
        print(f"install with: {INSTALL}", file=sys.stderr)
        return 2

    output = args.output.resolve()
    output.mkdir(parents=True, exist_ok=True)
    for old in output.glob("*.png"):
        old.unlink()
    deadline = time.monotonic() + args.timeout
    tmp = Path(tempfile.mkdtemp(prefix="cnmf_gui_check_"))
    (tmp / "notebooks").mkdir()
    notebook = write_notebook(tmp / "notebooks")
    shutil.copy(notebook, output / NOTEBOOK)
    port, token = free_port(), secrets.token_hex(16)
    server_log = output / "jupyter_server.log"
    server = driver = None
    started = time.monotonic()
    try:
        server = start_server(tmp, port, token, server_log)
        wait_for_server(server, port, token, deadline)
        log(f"Jupyter server up on 127.0.0.1:{port}")
        driver = start_browser(args.chromium, args.chromedriver, tmp / "chromium")
        url = f"http://127.0.0.1:{port}/lab/tree/{NOTEBOOK}?token={token}"
        warnings = run_check(driver, url, output, deadline)
    except CheckFailed as error:
        if driver is not None:
            try:
                driver.save_screenshot(str(output / "failure.png"))
            except Exception:  # noqa: BLE001 - best effort
                pass
            for message in browser_errors(driver):
                print(f"browser console: {message}", file=sys.stderr)
        print(f"GUI check FAILED: {error}", file=sys.stderr)
        print(f"screenshots and server log in {output}", file=sys.stderr)
        return 1
    finally:
        if driver is not None:
            driver.quit()
        stop_server(server, port, token)
        shutil.rmtree(tmp, ignore_errors=True)
    for warning in warnings:
        print(f"warning: {warning}")
    if warnings and args.strict:
        print(
            f"GUI check FAILED (--strict): {len(warnings)} warning(s)", file=sys.stderr
        )
        return 1
    log(
        f"GUI check passed in {time.monotonic() - started:.0f} s: the form rendered "
        f"in JupyterLab, Run fitted the signal and the status said 'Done'. "
        f"Screenshots in {output}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
