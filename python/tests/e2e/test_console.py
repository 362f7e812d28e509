"""The web console in a real browser (headless Chromium through Selenium): write a function in the
editor, deploy with a syntax error marked on its line, fix it, invoke, read a DataFrame as a table,
logs and tracebacks, run a call again, change settings, diff versions, roll back and delete. The screenshots
it takes are the README's."""

import os
import pathlib
import re
import subprocess
import tempfile
import time

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from server import BINARY
from wheelhouse import block

# PYHOST_SCREENSHOTS=docs refreshes the README's screenshots.
SCREENSHOTS = pathlib.Path(os.environ.get("PYHOST_SCREENSHOTS", pathlib.Path(tempfile.gettempdir()) / "pyhost-screenshots"))

BROKEN = "def handle(request):\n    greeting = 'Hi ' + request['name'\n    return {'message': greeting}\n"
FIXED = "def handle(request):\n    greeting = 'Hi ' + request['name']\n    return {'message': greeting}\n"
TABULAR = ("import pandas as pd\n\ndef handle(request):\n    print('greeting', request['name'])\n"
           "    return pd.DataFrame({'name': [request['name']], 'letters': [len(request['name'])]})\n")
SALES = ("import pandas as pd\n\ndef handle(request):\n"
         "    sales = pd.DataFrame({'region': ['north', 'south', 'east'], 'total': [1.5, 12, 3]})\n"
         "    return sales.set_index('region')\n")


@pytest.fixture(scope="module")
def browser():
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    yield driver
    driver.quit()


def open_console(browser, server):
    browser.get(server.url + "/")
    WebDriverWait(browser, 60).until(lambda _: editor(browser).is_displayed())


def editor(browser):
    """CodeMirror's contenteditable, in the shadow root of #source."""
    return browser.find_element(By.ID, "source").shadow_root.find_element(By.CSS_SELECTOR, ".cm-content")


def editor_text(browser):
    return "\n".join(line.text for line in browser.find_element(By.ID, "source").shadow_root.find_elements(By.CSS_SELECTOR, ".cm-line"))


def marked_lines(browser):
    gutter = browser.find_element(By.ID, "source").shadow_root
    return [element.text for element in gutter.find_elements(By.CSS_SELECTOR, ".cm-lineNumbers .cm-gutterElement.cm-error-line")]


def write_source(browser, source):
    """Types `source` as a person would: each line's indentation with Tab, after taking away the
    indentation the editor added on Enter."""
    keys = [Keys.CONTROL, "a", Keys.NULL, Keys.DELETE]
    for number, line in enumerate(source.split("\n")):
        if number:
            keys += [Keys.ENTER, Keys.SHIFT, Keys.HOME, Keys.NULL, Keys.DELETE]
        text = line.lstrip(" ")
        keys += [Keys.TAB * ((len(line) - len(text)) // 4), text]
    # One call: each call focuses the editor again, which puts the cursor at its end.
    content = editor(browser)
    content.click()
    content.send_keys(*keys)
    assert editor_text(browser) == source


def type_into(browser, element_id, text):
    # The page may still be filling the field in (a selected function, a restored request) when
    # the test types: type again until the field holds exactly the text.
    element = browser.find_element(By.ID, element_id)
    for _ in range(5):
        element.clear()
        element.send_keys(text)
        if element.get_attribute("value") == text:
            return
        time.sleep(0.1)
    assert element.get_attribute("value") == text


def wait_for_text(browser, element_id, text, timeout=60):
    WebDriverWait(browser, timeout).until(conditions.text_to_be_present_in_element((By.ID, element_id), text))
    return browser.find_element(By.ID, element_id).text


def select_function(browser, name):
    wait_for_text(browser, "functions", name)
    browser.find_element(By.XPATH, f"//ul[@id='functions']/li[span='{name}']").click()
    WebDriverWait(browser, 60).until(conditions.presence_of_element_located((By.ID, "versions")))


def table_cells(browser):
    rows = browser.find_element(By.ID, "result-table").find_elements(By.TAG_NAME, "tr")
    return [[cell.text for cell in row.find_elements(By.CSS_SELECTOR, "th, td")] for row in rows]


def severe_entries(browser):
    return [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]


def run(command, **environment):
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30, check=True,
                          env={**os.environ, **environment}).stdout


def test_write_deploy_fix_invoke_and_operate_a_function_in_the_console(server, browser):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    open_console(browser, server)
    type_into(browser, "name", "console-demo")
    write_source(browser, BROKEN)
    editor(browser).send_keys(Keys.CONTROL, "s")

    status = wait_for_text(browser, "deploy-status", "SyntaxError")
    assert "line 2" in status
    WebDriverWait(browser, 10).until(lambda _: marked_lines(browser) == ["2"])
    browser.save_screenshot(str(SCREENSHOTS / "console-syntax-error.png"))
    assert server.request("GET", "/functions/console-demo").status == 404, "nothing was stored"

    write_source(browser, FIXED)
    browser.find_element(By.ID, "deploy").click()
    assert "deployed version 1" in wait_for_text(browser, "deploy-status", "deployed")
    assert marked_lines(browser) == []
    assert server.request("GET", "/functions/console-demo").json()["source"] == FIXED

    type_into(browser, "request", '{"name": "Ada"}')
    browser.find_element(By.ID, "request").send_keys(Keys.CONTROL, Keys.ENTER)
    wait_for_text(browser, "result", "Hi Ada")
    assert browser.find_element(By.ID, "invoke-status").text.startswith("200 in ")
    invocation_id = browser.find_element(By.ID, "invocation-id").text
    wait_for_text(browser, "history", "200")
    assert browser.find_elements(By.CSS_SELECTOR, f"[data-rerun='{invocation_id}']")
    assert "1 calls in 10 min" in browser.find_element(By.ID, "chart-caption").text
    assert run(browser.find_element(By.ID, "curl").text) == '{"message":"Hi Ada"}'
    cli = browser.find_element(By.ID, "cli").text
    assert " pyhost invoke console-demo " in cli
    assert '"Hi Ada"' in run(cli.replace(" pyhost ", f" {BINARY} ", 1))
    browser.execute_cdp_cmd("Browser.grantPermissions", {
        "origin": server.url, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
    browser.find_element(By.ID, "copy-curl").click()
    wait_for_text(browser, "copy-curl", "copied")
    clipboard = browser.execute_async_script("navigator.clipboard.readText().then(arguments[0])")
    assert clipboard == browser.find_element(By.ID, "curl").text
    browser.save_screenshot(str(SCREENSHOTS / "console-invoke.png"))

    type_into(browser, "request-label", "ada")
    browser.find_element(By.ID, "save-request").click()
    type_into(browser, "request", '{"name": "Bo"}')
    browser.find_element(By.CSS_SELECTOR, "[data-load='ada']").click()
    assert browser.find_element(By.ID, "request").get_attribute("value") == '{"name": "Ada"}'

    write_source(browser, TABULAR)
    editor(browser).send_keys(Keys.CONTROL, "s")
    wait_for_text(browser, "deploy-status", "deployed version 2")
    browser.find_element(By.ID, "invoke").click()
    wait_for_text(browser, "result-table", "Ada")
    assert table_cells(browser) == [["name", "letters"], ["Ada", "3"]]
    assert wait_for_text(browser, "logs", "greeting Ada") == "greeting Ada"

    type_into(browser, "request", '{"name": "Bo"}')
    browser.find_element(By.CSS_SELECTOR, f"[data-rerun='{invocation_id}']").click()
    wait_for_text(browser, "chart-caption", "5 calls in 10 min")  # with the curl and CLI calls
    assert browser.find_element(By.ID, "request").get_attribute("value") == '{"name": "Ada"}'
    assert table_cells(browser) == [["name", "letters"], ["Ada", "3"]]
    history = server.request("GET", "/functions/console-demo/logs").json()["invocations"]
    assert [(call["version"], call["logs"]) for call in history] == [(2, "greeting Ada\n")] * 2 + [(1, "")] * 3
    # With fewer than 100 calls a minute, a minute's p99 is its slowest call.
    slowest = re.search(r"up to ([0-9.]+) ms", browser.find_element(By.ID, "chart-caption").text).group(1)
    assert float(slowest) == pytest.approx(max(call["milliseconds"] for call in history), abs=0.05)
    rerun_buttons = browser.find_elements(By.CSS_SELECTOR, "#history [data-rerun]")
    assert len(rerun_buttons) == 3, "the calls this browser sent, not those from curl and the CLI"

    Select(browser.find_element(By.ID, "diff-from")).select_by_visible_text("1")
    Select(browser.find_element(By.ID, "diff-to")).select_by_visible_text("2")
    diff = browser.find_element(By.ID, "diff")
    assert [line.text for line in diff.find_elements(By.TAG_NAME, "span")] == [
        "+ import pandas as pd", "+ ", "  def handle(request):",
        "-     greeting = 'Hi ' + request['name']", "-     return {'message': greeting}",
        "+     print('greeting', request['name'])",
        "+     return pd.DataFrame({'name': [request['name']], 'letters': [len(request['name'])]})", "  "]
    assert len(diff.find_elements(By.CSS_SELECTOR, ".removed")) == 2 and len(diff.find_elements(By.CSS_SELECTOR, ".added")) == 4
    browser.find_element(By.CSS_SELECTOR, "[data-show='1']").click()
    assert browser.find_element(By.ID, "version-source").text == FIXED.rstrip("\n")

    type_into(browser, "setting-timeout", "5")
    type_into(browser, "setting-min-warm", "1")
    browser.find_element(By.ID, "save-settings").click()
    wait_for_text(browser, "settings-status", "saved as version 3")
    serving = server.request("GET", "/functions/console-demo").json()
    assert (serving["version"], serving["timeout_seconds"], serving["min_warm"], serving["source"]) == (3, 5, 1, TABULAR)

    browser.find_element(By.CSS_SELECTOR, "[data-rollback='1']").click()
    wait_for_text(browser, "deploy-status", "serving version 1")
    assert editor_text(browser) == FIXED
    browser.find_element(By.ID, "invoke").click()
    wait_for_text(browser, "result", "Hi Ada")
    Select(browser.find_element(By.ID, "diff-from")).select_by_visible_text("1")
    Select(browser.find_element(By.ID, "diff-to")).select_by_visible_text("2")
    browser.execute_script("arguments[0].closest('section').scrollIntoView()", browser.find_element(By.ID, "chart"))
    browser.save_screenshot(str(SCREENSHOTS / "console-versions.png"))
    assert server.invoke("console-demo", {"name": "Bo"}).json() == {"message": "Hi Bo"}

    # A version deployed elsewhere (here with the API) and never served in this browser: its source
    # is read from the server.
    elsewhere = "def handle(request):\n    return 'deployed elsewhere'\n"
    assert server.deploy("console-demo", elsewhere).status == 201
    assert server.request("POST", "/functions/console-demo/rollback?version=1").status == 200
    select_function(browser, "console-demo")
    WebDriverWait(browser, 20).until(lambda page: page.find_elements(By.CSS_SELECTOR, "[data-show='4']"))
    browser.find_element(By.CSS_SELECTOR, "[data-show='4']").click()
    assert browser.find_element(By.ID, "version-source").text == elsewhere.rstrip("\n")

    browser.find_element(By.ID, "delete").click()
    assert server.request("GET", "/functions/console-demo").status == 200, "asks first"
    browser.find_element(By.ID, "confirm-delete").click()
    wait_for_text(browser, "deploy-status", "deleted console-demo")
    assert server.request("GET", "/functions/console-demo").status == 404
    assert "console-demo" not in browser.find_element(By.ID, "functions").text

    # Chromium logs every 4xx a page fetches; the deliberate syntax error's 400 is the only one.
    [syntax_error] = severe_entries(browser)
    assert "/functions/console-demo?" in syntax_error and "status of 400" in syntax_error


def test_a_row_result_is_a_sortable_table_with_a_csv_download(server, browser, tmp_path):
    assert server.deploy("console-table", SALES).status == 201
    long = "import pandas as pd\ndef handle(request):\n    return pd.DataFrame({'n': range(1500)})\n"
    assert server.deploy("console-long", long).status == 201
    open_console(browser, server)
    select_function(browser, "console-table")
    type_into(browser, "request", "{}")
    browser.find_element(By.ID, "invoke").click()
    wait_for_text(browser, "result-table", "north")

    assert table_cells(browser) == [["region", "total"], ["north", "1.5"], ["south", "12"], ["east", "3"]]
    browser.find_element(By.XPATH, "//table[@id='result-table']//th[contains(., 'total')]").click()
    assert table_cells(browser)[1:] == [["north", "1.5"], ["east", "3"], ["south", "12"]], "numbers sort as numbers"
    browser.find_element(By.XPATH, "//table[@id='result-table']//th[contains(., 'total')]").click()
    assert table_cells(browser)[1:] == [["south", "12"], ["east", "3"], ["north", "1.5"]]

    browser.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    browser.find_element(By.ID, "download-csv").click()
    download = tmp_path / "console-table.csv"
    WebDriverWait(browser, 20).until(lambda _: download.exists())
    assert download.read_bytes() == b"region,total\r\nsouth,12\r\neast,3\r\nnorth,1.5\r\n", "in the order shown"

    browser.find_element(By.ID, "view-json").click()
    assert '"region": "north"' in browser.find_element(By.ID, "result").text
    assert browser.find_elements(By.ID, "result-table") == []

    select_function(browser, "console-long")
    browser.find_element(By.ID, "invoke").click()
    assert wait_for_text(browser, "result-note", "1500") == "The first 1000 of 1500 rows; the CSV holds them all."
    assert len(browser.find_elements(By.CSS_SELECTOR, "#result-table tbody tr")) == 1000
    browser.find_element(By.ID, "download-csv").click()
    download = tmp_path / "console-long.csv"
    WebDriverWait(browser, 20).until(lambda _: download.exists())
    assert download.read_bytes().decode().split("\r\n") == ["n", *map(str, range(1500)), ""]


def test_tracebacks_are_marked_in_the_editor_and_shown_with_the_handlers_lines(server, browser):
    open_console(browser, server)
    type_into(browser, "name", "console-error")
    write_source(browser, "import json\n\nsettings = json.loads('{')\n\ndef handle(request):\n    return 1\n")
    browser.find_element(By.ID, "deploy").click()
    assert "JSONDecodeError" in wait_for_text(browser, "deploy-status", "422")
    WebDriverWait(browser, 10).until(lambda _: marked_lines(browser) == ["3"])
    frames = browser.find_elements(By.CSS_SELECTOR, "#deploy-traceback .own.frame, #deploy-traceback .own.code")
    assert [line.text.strip() for line in frames] == ['File "console-error.py", line 3, in <module>', "settings = json.loads('{')"]

    write_source(browser, "def parse(text):\n    return int(text)\n\ndef handle(request):\n    return parse(request)\n")
    browser.find_element(By.ID, "deploy").click()
    wait_for_text(browser, "deploy-status", "deployed version 1")
    assert marked_lines(browser) == []
    type_into(browser, "request", '"twelve"')
    browser.find_element(By.ID, "invoke").click()
    assert wait_for_text(browser, "error-summary", "ValueError").startswith("ValueError: invalid literal for int()")
    assert browser.find_element(By.ID, "invoke-status").text.startswith("500 in ")
    frames = browser.find_elements(By.CSS_SELECTOR, "#traceback .own.frame")
    code = browser.find_elements(By.CSS_SELECTOR, "#traceback .own.code")
    assert [frame.text.strip() for frame in frames] == [
        'File "console-error.py", line 5, in handle', 'File "console-error.py", line 2, in parse']
    assert [line.text.strip() for line in code] == ["return parse(request)", "return int(text)"]
    failed_loads = [message.split(" - ")[1] for message in severe_entries(browser)]
    assert failed_loads == ["Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)",
                            "Failed to load resource: the server responded with a status of 500 (Internal Server Error)"]


def test_saved_requests_stay_in_the_browser_and_the_page_reads_at_800_pixels(server, browser):
    assert server.deploy("console-narrow", SALES).status == 201
    open_console(browser, server)
    select_function(browser, "console-narrow")
    type_into(browser, "request", '{"region": "north"}')
    type_into(browser, "request-label", "north only")
    browser.find_element(By.ID, "save-request").click()
    browser.refresh()
    WebDriverWait(browser, 60).until(lambda _: editor(browser).is_displayed())
    select_function(browser, "console-narrow")
    browser.find_element(By.CSS_SELECTOR, "[data-load='north only']").click()
    assert browser.find_element(By.ID, "request").get_attribute("value") == '{"region": "north"}'
    browser.find_element(By.CSS_SELECTOR, "[data-forget='north only']").click()
    assert browser.find_elements(By.CSS_SELECTOR, "[data-load='north only']") == []

    browser.set_window_size(800, 900)
    try:
        browser.find_element(By.ID, "invoke").click()
        wait_for_text(browser, "result-table", "north")
        width, viewport = browser.execute_script(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        assert width <= viewport, "nothing is cut off or scrolls sideways at 800 px"
        assert browser.find_element(By.ID, "deploy").is_displayed() and browser.find_element(By.ID, "invoke").is_displayed()
    finally:
        browser.set_window_size(1280, 900)
    assert server.request("GET", "/favicon.ico").status == 200
    assert severe_entries(browser) == []


def test_the_deploy_token_is_entered_once_and_kept_for_the_session(start_server, browser):
    server = start_server("--deploy-token", "console-secret")
    open_console(browser, server)
    type_into(browser, "name", "guarded")
    browser.find_element(By.ID, "deploy").click()
    assert "Unauthorized" in wait_for_text(browser, "deploy-status", "401")
    type_into(browser, "token", "console-secret")
    browser.find_element(By.ID, "name").click()  # the change event stores the token
    browser.refresh()
    WebDriverWait(browser, 60).until(lambda _: editor(browser).is_displayed())
    assert browser.find_element(By.ID, "token").get_attribute("value") == "console-secret"
    type_into(browser, "name", "guarded")
    browser.find_element(By.ID, "deploy").click()
    wait_for_text(browser, "deploy-status", "deployed version 1")
    [unauthorized] = severe_entries(browser)
    assert "/functions/guarded? - Failed to load resource: the server responded with a status of 401" in unauthorized


def test_the_token_is_asked_for_only_where_the_server_needs_one(server, browser):
    open_console(browser, server)
    assert browser.find_elements(By.ID, "token") == []
    assert server.request("GET", "/healthz").json()["deploy_token_required"] is False
    assert severe_entries(browser) == []


def test_access_and_keys_from_the_console(start_server, browser):
    server = start_server("--deploy-token", "console-secret")
    assert server.request("POST", "/functions/dashboard", FIXED, {"Authorization": "Bearer console-secret"}).status == 201
    open_console(browser, server)
    type_into(browser, "token", "console-secret")
    browser.find_element(By.ID, "name").click()
    select_function(browser, "dashboard")
    Select(browser.find_element(By.ID, "access")).select_by_visible_text("private")
    type_into(browser, "access-rate", "20")
    browser.find_element(By.ID, "save-access").click()
    wait_for_text(browser, "access-status", "saved: private")
    assert server.request("GET", "/functions/dashboard/access").json() == {
        "access": "private", "rate_per_second": 20, "allowed_origins": []}
    assert 'Authorization: Bearer $PYHOST_KEY' in browser.find_element(By.ID, "curl").text

    type_into(browser, "key-functions", "dashboard")
    browser.find_element(By.ID, "create-key").click()
    secret = wait_for_text(browser, "new-key", "pyk_")
    browser.save_screenshot(str(SCREENSHOTS / "console-keys.png"))
    call = {"Content-Type": "application/json", "Authorization": f"Bearer {secret}"}
    assert server.request("POST", "/functions/dashboard/invoke", '{"name": "Key"}', call).json() == {"message": "Hi Key"}
    assert run(browser.find_element(By.ID, "curl").text, PYHOST_KEY=secret) == '{"message":"Hi Hugues"}'
    assert server.request("POST", "/functions/dashboard/invoke", '{"name": "Key"}', {"Content-Type": "application/json"}).status == 401
    key_id = secret.split("_")[1] + "_" + secret.split("_")[2]
    browser.find_element(By.CSS_SELECTOR, f"[data-revoke='{key_id}']").click()
    wait_for_text(browser, "keys-status", f"revoked {key_id}")
    assert server.request("POST", "/functions/dashboard/invoke", '{"name": "Key"}', call).status == 401
    assert severe_entries(browser) == []


def test_a_versions_packages_are_shown(start_server, browser, wheels):
    server = start_server("--no-index", "--find-links", str(wheels))
    hello = "import tinyhello\ndef handle(request):\n    return tinyhello.VALUE\n"
    assert server.deploy("console-packages", block("numpy") + "import numpy\ndef handle(request):\n    return 1\n").status == 201
    assert server.deploy("console-packages", block("tinyhello==1.0") + hello).status == 201
    open_console(browser, server)
    select_function(browser, "console-packages")
    WebDriverWait(browser, 30).until(lambda page: page.find_elements(By.CSS_SELECTOR, "[data-packages='2']"))
    assert browser.find_element(By.CSS_SELECTOR, "[data-packages='2']").text == "tinyhello==1.0"
    assert browser.find_element(By.CSS_SELECTOR, "[data-packages='1']").text == "numpy (the host's)"
