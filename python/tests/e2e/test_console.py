"""The web console in a real browser (headless Chromium through Selenium): deploy with a syntax
error marked on its line, fix it, invoke, read the result and the logs, roll back. The screenshots
it takes are the README's."""

import os
import pathlib
import tempfile

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

# PYHOST_SCREENSHOTS=docs refreshes the README's screenshots.
SCREENSHOTS = pathlib.Path(os.environ.get("PYHOST_SCREENSHOTS", pathlib.Path(tempfile.gettempdir()) / "pyhost-screenshots"))

BROKEN = "def handle(request):\n    greeting = 'Hi ' + request['name'\n    return {'message': greeting}\n"
FIXED = "def handle(request):\n    greeting = 'Hi ' + request['name']\n    return {'message': greeting}\n"
CHATTY = "def handle(request):\n    print('greeting', request['name'])\n    return {'message': 'Hello ' + request['name']}\n"


@pytest.fixture(scope="module")
def browser():
    options = Options()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,860"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    yield driver
    driver.quit()


def type_into(browser, element_id, text):
    element = browser.find_element(By.ID, element_id)
    element.clear()
    element.send_keys(text)


def wait_for_text(browser, element_id, text, timeout=20):
    WebDriverWait(browser, timeout).until(conditions.text_to_be_present_in_element((By.ID, element_id), text))
    return browser.find_element(By.ID, element_id).text


def test_deploy_fix_invoke_and_roll_back_in_the_console(server, browser):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.get(server.url + "/")
    WebDriverWait(browser, 20).until(conditions.presence_of_element_located((By.ID, "source")))

    type_into(browser, "name", "console-demo")
    type_into(browser, "source", BROKEN)
    browser.find_element(By.ID, "deploy").click()
    status = wait_for_text(browser, "deploy-status", "SyntaxError")
    assert "line 2" in status
    marked = browser.find_elements(By.CSS_SELECTOR, ".gutter div.error")
    assert [line.get_attribute("data-line") for line in marked] == ["2"]
    browser.save_screenshot(str(SCREENSHOTS / "console-syntax-error.png"))
    assert server.request("GET", "/functions/console-demo").status == 404, "nothing was stored"

    type_into(browser, "source", FIXED)
    browser.find_element(By.ID, "deploy").click()
    assert "deployed version 1" in wait_for_text(browser, "deploy-status", "deployed")
    assert browser.find_elements(By.CSS_SELECTOR, ".gutter div.error") == []

    type_into(browser, "request", '{"name": "Ada"}')
    browser.find_element(By.ID, "invoke").click()
    wait_for_text(browser, "result", "Hi Ada")
    assert browser.find_element(By.ID, "invoke-status").text.startswith("200 in ")
    browser.save_screenshot(str(SCREENSHOTS / "console-invoke.png"))

    type_into(browser, "source", CHATTY)
    browser.find_element(By.ID, "deploy").click()
    wait_for_text(browser, "deploy-status", "deployed version 2")
    browser.find_element(By.ID, "invoke").click()
    wait_for_text(browser, "result", "Hello Ada")
    assert wait_for_text(browser, "logs", "greeting Ada") == "greeting Ada"

    browser.find_element(By.CSS_SELECTOR, "[data-rollback='1']").click()
    wait_for_text(browser, "deploy-status", "serving version 1")
    browser.find_element(By.ID, "invoke").click()
    wait_for_text(browser, "result", "Hi Ada")
    assert "console-demo" in browser.find_element(By.ID, "functions").text
    browser.save_screenshot(str(SCREENSHOTS / "console-versions.png"))
    assert server.invoke("console-demo", {"name": "Bo"}).json() == {"message": "Hi Bo"}


def test_the_deploy_token_is_entered_once_and_kept_for_the_session(start_server, browser):
    server = start_server("--deploy-token", "console-secret")
    browser.get(server.url + "/")
    WebDriverWait(browser, 20).until(conditions.presence_of_element_located((By.ID, "source")))
    type_into(browser, "name", "guarded")
    browser.find_element(By.ID, "deploy").click()
    assert "Unauthorized" in wait_for_text(browser, "deploy-status", "401")
    type_into(browser, "token", "console-secret")
    browser.find_element(By.ID, "name").click()  # the change event stores the token
    browser.refresh()
    WebDriverWait(browser, 20).until(conditions.presence_of_element_located((By.ID, "source")))
    assert browser.find_element(By.ID, "token").get_attribute("value") == "console-secret"
    type_into(browser, "name", "guarded")
    browser.find_element(By.ID, "deploy").click()
    wait_for_text(browser, "deploy-status", "deployed version 1")


def test_the_token_is_asked_for_only_where_the_server_needs_one(server, browser):
    browser.get(server.url + "/")
    WebDriverWait(browser, 20).until(conditions.presence_of_element_located((By.ID, "source")))
    assert browser.find_elements(By.ID, "token") == []
    assert server.request("GET", "/healthz").json()["deploy_token_required"] is False


def test_a_row_result_is_also_shown_as_a_table(server, browser):
    source = "import pandas as pd\ndef handle(request):\n    return pd.DataFrame({'region': ['north', 'south'], 'total': [1.5, 2]}).set_index('region')\n"
    assert server.deploy("console-table", source).status == 201
    browser.get(server.url + "/")
    WebDriverWait(browser, 20).until(conditions.presence_of_element_located((By.ID, "source")))
    wait_for_text(browser, "functions", "console-table")
    browser.find_element(By.XPATH, "//ul[@id='functions']/li[span='console-table']").click()
    type_into(browser, "request", "{}")
    browser.find_element(By.ID, "invoke").click()
    wait_for_text(browser, "result", "north")
    table = browser.find_element(By.ID, "result-table")
    cells = [[cell.text for cell in row.find_elements(By.CSS_SELECTOR, "th, td")] for row in table.find_elements(By.TAG_NAME, "tr")]
    assert cells == [["region", "total"], ["north", "1.5"], ["south", "2"]]


def test_access_and_keys_from_the_console(start_server, browser):
    server = start_server("--deploy-token", "console-secret")
    assert server.request("POST", "/functions/dashboard", FIXED, {"Authorization": "Bearer console-secret"}).status == 201
    browser.get_log("browser")  # what earlier tests left, such as their deliberate 400s
    browser.get(server.url + "/")
    WebDriverWait(browser, 20).until(conditions.presence_of_element_located((By.ID, "source")))
    type_into(browser, "token", "console-secret")
    browser.find_element(By.ID, "name").click()
    wait_for_text(browser, "functions", "dashboard")
    browser.find_element(By.XPATH, "//ul[@id='functions']/li[span='dashboard']").click()
    WebDriverWait(browser, 20).until(conditions.presence_of_element_located((By.ID, "access")))
    Select(browser.find_element(By.ID, "access")).select_by_visible_text("private")
    type_into(browser, "access-rate", "20")
    browser.find_element(By.ID, "save-access").click()
    wait_for_text(browser, "access-status", "saved: private")
    assert server.request("GET", "/functions/dashboard/access").json() == {
        "access": "private", "rate_per_second": 20, "allowed_origins": []}

    type_into(browser, "key-functions", "dashboard")
    browser.find_element(By.ID, "create-key").click()
    secret = wait_for_text(browser, "new-key", "pyk_")
    browser.save_screenshot(str(SCREENSHOTS / "console-keys.png"))
    call = {"Content-Type": "application/json", "Authorization": f"Bearer {secret}"}
    assert server.request("POST", "/functions/dashboard/invoke", '{"name": "Key"}', call).json() == {"message": "Hi Key"}
    assert server.request("POST", "/functions/dashboard/invoke", '{"name": "Key"}', {"Content-Type": "application/json"}).status == 401
    key_id = secret.split("_")[1] + "_" + secret.split("_")[2]
    browser.find_element(By.CSS_SELECTOR, f"[data-revoke='{key_id}']").click()
    wait_for_text(browser, "keys-status", f"revoked {key_id}")
    assert server.request("POST", "/functions/dashboard/invoke", '{"name": "Key"}', call).status == 401
    assert [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"] == []
