#include <Python.h>
#include <string.h>
#include "pyhost_shims.h"

int pyhost_python_initialize(const char *program_name, char *error, size_t error_size) {
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    // PATH, PYTHONHOME and PYTHONPATH must not choose the interpreter: Debian's has pandas.
    config.use_environment = 0;
    config.user_site_directory = 0;
    config.write_bytecode = 0;
    // The zygote and the workers leave signals to their default actions.
    config.install_signal_handlers = 0;
    config.parse_argv = 0;

    PyStatus status = PyConfig_SetBytesString(&config, &config.program_name, program_name);
    if (!PyStatus_Exception(status)) {
        status = Py_InitializeFromConfig(&config);
    }
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        snprintf(error, error_size, "%s: %s", status.func ? status.func : "Py_InitializeFromConfig",
                 status.err_msg ? status.err_msg : "failed");
        return -1;
    }
    return 0;
}

int pyhost_python_run(const char *code) {
    return PyRun_SimpleString(code) == 0 ? 0 : -1;
}

static PyObject *call(const char *module_name, const char *function, PyObject *args) {
    PyObject *module = PyImport_ImportModule(module_name);
    if (module == NULL) return NULL;
    PyObject *callable = PyObject_GetAttrString(module, function);
    Py_DECREF(module);
    if (callable == NULL) return NULL;
    PyObject *result = PyObject_CallObject(callable, args);
    Py_DECREF(callable);
    return result;
}

int pyhost_python_call_with_fd(const char *module, const char *function, int fd) {
    PyObject *args = Py_BuildValue("(i)", fd);
    if (args == NULL) { PyErr_Print(); return -1; }
    PyObject *result = call(module, function, args);
    Py_DECREF(args);
    if (result == NULL) { PyErr_Print(); return -1; }
    long value = PyLong_Check(result) ? PyLong_AsLong(result) : 0;
    Py_DECREF(result);
    return (int)value;
}

char *pyhost_python_call_str(const char *module, const char *function) {
    PyObject *result = call(module, function, NULL);
    if (result == NULL) { PyErr_Print(); return NULL; }
    const char *utf8 = PyUnicode_Check(result) ? PyUnicode_AsUTF8(result) : NULL;
    char *copy = utf8 ? strdup(utf8) : NULL;
    Py_DECREF(result);
    return copy;
}

void pyhost_python_before_fork(void) { PyOS_BeforeFork(); }
void pyhost_python_after_fork_child(void) { PyOS_AfterFork_Child(); }
void pyhost_python_after_fork_parent(void) { PyOS_AfterFork_Parent(); }
