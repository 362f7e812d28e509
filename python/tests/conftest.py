import pathlib
import sys

# The runtime is imported the way the zygote imports it: from python/.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
