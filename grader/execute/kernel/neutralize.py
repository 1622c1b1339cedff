"""Environment cells written for Colab or a student's own machine, made harmless in the kernel.

A correct notebook must not score 0 because it starts TensorBoard, picks a matplotlib backend,
``pip install``s what is already there, or downloads the exercise's data file, which the
grader has already put next to the notebook (and which is offline anyway). An IPython input
transformer rewrites such lines before they run, and ``urllib``/``requests`` are answered
with the provided file for the data URL only. Every rewrite is recorded in the ledger, so the
report lists it: nothing is neutralized silently. Anything else (another download, an
unguarded ``google.colab`` import) runs as written and fails with an explanation.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # IPython's builtin in the kernel this code runs in
    def get_ipython() -> Any: ...
import re
import shlex

MAGIC = re.compile(r"^(\s*)([!%])(?!%)\s*(.*?)\s*$")
DISPLAY_BACKENDS_KEPT = ("inline", "")
#: a line that imports or looks up google.colab (a comment mentioning it is none)
COLAB = re.compile(r"^[^#]*(?:import\s+google\.colab|from\s+google\.colab\s+import"
                   r"|['\"]google\.colab['\"])")


def rewrite(line, data_name, data_url):
    """The Python line that replaces an environment line, or None to keep it as written."""
    m = MAGIC.match(line)
    if not m:
        return None
    indent, escape, command = m.groups()
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    if not words:
        return None
    call = _call(escape, words, command, data_name, data_url)
    return None if call is None else f"{indent}{call}\n"


def _call(escape, words, command, data_name, data_url):
    head = words[0]
    if escape == "!" and head in ("wget", "curl") and (
            (data_name and data_name in command) or (data_url and data_url in command)):
        return f"__grader_env.download({words!r})"
    if head == "tensorboard":
        return f"__grader_env.neutral({escape + 'tensorboard'!r})"
    if escape == "%" and head in ("load_ext", "reload_ext") and words[1:] == ["tensorboard"]:
        return "__grader_env.neutral('%load_ext tensorboard')"
    if escape == "%" and head == "matplotlib" and len(words) > 1 and words[1] not in DISPLAY_BACKENDS_KEPT:
        return (f"__grader_env.neutral('%matplotlib', {words[1]!r}); "
                "get_ipython().run_line_magic('matplotlib', 'inline')")
    packages = pip_packages(words)
    if packages is not None:
        return f"__grader_env.pip({packages!r})"
    return None


def pip_packages(words):
    """``pip install a b`` (also ``pip3``, ``python -m pip``, ``%pip``): the names, else None."""
    if words[:1] in (["pip"], ["pip3"]) and words[1:2] == ["install"]:
        rest = words[2:]
    elif words[:1] in (["python"], ["python3"]) and words[1:4] == ["-m", "pip", "install"]:
        rest = words[4:]
    else:
        return None
    names = [re.split(r"[<>=!~\[;@ ]", w)[0] for w in rest if not w.startswith("-")]
    return [n for n in names if n]


def transform(lines, data_name, data_url):
    """IPython input transformer body: (new lines, notes about lines kept as written)."""
    out, notes = [], []
    for line in lines:
        new = rewrite(line, data_name, data_url)
        out.append(line if new is None else new)
        if new is None and COLAB.search(line):
            notes.append("google.colab")
    return out, notes


class Environment:
    """Answers what the rewritten lines call; records each neutralization in the ledger."""

    def __init__(self, ledger, data_name, data_url):
        self.ledger, self.data_name, self.data_url = ledger, data_name, data_url

    def neutral(self, what, detail=""):
        entry = {"what": what, "detail": str(detail)[:200]}
        if entry not in self.ledger.neutralized and len(self.ledger.neutralized) < 50:
            self.ledger.neutralized.append(entry)

    def is_data(self, url):
        if not isinstance(url, str):
            return False
        name = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        return url == self.data_url or name == self.data_name

    def provide(self, target):
        """Put the provided data file at ``target``; a failure is printed, never raised."""
        import os
        import shutil
        import sys

        if os.path.abspath(target) == os.path.abspath(self.data_name):
            return
        try:
            os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
            shutil.copyfile(self.data_name, target)
        except OSError as exc:
            print(f"grader: could not copy the provided {self.data_name} to {target}: {exc}",
                  file=sys.stderr)

    def download(self, words):
        """``!wget``/``!curl`` of the data file: answered with the provided copy, offline."""
        target = download_target(words, self.data_name)
        if target is not None:
            self.provide(target)
        self.neutral(words[0], target or "standard output")

    def pip(self, packages):
        from importlib import metadata

        missing = []
        for name in packages:
            try:
                metadata.version(name)
            except metadata.PackageNotFoundError:
                missing.append(name)
        if missing:
            import sys

            print("grader: the grading machine is offline and cannot install "
                  + ", ".join(missing), file=sys.stderr)
            self.neutral("pip install (not available)", " ".join(missing))
        else:
            self.neutral("pip install", " ".join(packages))

    def patch_urllib(self):
        import email.message
        import urllib.request
        import urllib.response

        original_retrieve, original_open = urllib.request.urlretrieve, urllib.request.urlopen

        def urlretrieve(url, filename=None, *args, **kwargs):
            if not self.is_data(url):
                return original_retrieve(url, filename, *args, **kwargs)
            target = filename or self.data_name
            self.provide(target)
            self.neutral("urlretrieve", target)
            return target, email.message.Message()

        def urlopen(url, *args, **kwargs):
            full = getattr(url, "full_url", url)
            if not self.is_data(full):
                return original_open(url, *args, **kwargs)
            self.neutral("urlopen", self.data_name)
            return urllib.response.addinfourl(open(self.data_name, "rb"), email.message.Message(),
                                              full, 200)

        urllib.request.urlretrieve, urllib.request.urlopen = urlretrieve, urlopen

    def patch_requests(self, requests):
        if getattr(requests.get, "__grader__", False):
            return
        original = requests.get

        def get(url, *args, **kwargs):
            if not self.is_data(url):
                return original(url, *args, **kwargs)
            response = requests.models.Response()
            with open(self.data_name, "rb") as f:
                response._content = f.read()
            response.status_code, response.url = 200, url
            self.neutral("requests", self.data_name)
            return response

        vars(get)["__grader__"] = True
        requests.get = get


    def patch_keras(self, keras):
        """``keras.utils.get_file(name, origin=URL)`` of the data: the provided file's path."""
        original = keras.utils.get_file
        if getattr(original, "__grader__", False):
            return

        def get_file(fname=None, origin=None, *args, **kwargs):
            if not (self.is_data(origin) or fname == self.data_name):
                return original(fname, origin, *args, **kwargs)
            import os

            self.neutral("get_file", self.data_name)
            return os.path.abspath(self.data_name)

        vars(get_file)["__grader__"] = True
        keras.utils.get_file = get_file


OUTPUT_OPTIONS = {"wget": ("-O", "--output-document"), "curl": ("-o", "--output")}


def download_target(words, data_name):
    """Where ``wget``/``curl`` would write (None: standard output)."""
    tool, target, prefix, remote_name = words[0], None, ".", tool_default(words)
    url = next((w for w in words[1:] if "://" in w), "")
    base = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1] or data_name
    i = 1
    while i < len(words):
        w, nxt = words[i], words[i + 1] if i + 1 < len(words) else None
        if w in OUTPUT_OPTIONS[tool]:
            target, i = nxt, i + 2
            continue
        if tool == "wget" and w in ("-P", "--directory-prefix"):
            prefix, i = nxt or ".", i + 2
            continue
        if w.startswith("--output-document=") or w.startswith("--output="):
            target = w.split("=", 1)[1]
        elif w.startswith("--directory-prefix="):
            prefix = w.split("=", 1)[1]
        elif (tool == "wget" and w.startswith("-O")) or (tool == "curl" and w.startswith("-o")):
            target = w[2:] or target
        i += 1
    if target == "-":
        return None
    if target is None and remote_name:
        target = base if prefix == "." else f"{prefix.rstrip('/')}/{base}"
    return target


def tool_default(words):
    """wget writes a file named after the URL; curl only with ``-O``/``--remote-name``."""
    if words[0] == "wget":
        return True
    return any(w in ("-O", "--remote-name") or re.fullmatch(r"-[A-Za-z]*O[A-Za-z]*", w)
               for w in words[1:])


def __grader_neutralize(ledger, data_name, data_url):
    """In the kernel: register the input transformer and patch the download functions."""
    import sys

    ip = get_ipython()
    env = Environment(ledger, data_name, data_url)
    ip.user_ns["__grader_env"] = env

    def transformer(lines):
        new, notes = transform(lines, data_name, data_url)
        for note in notes:
            env.neutral(note)
        return new

    ip.input_transformers_cleanup.append(transformer)
    env.patch_urllib()

    def imported_hook(*_):
        if "requests" in sys.modules:
            env.patch_requests(sys.modules["requests"])
        if "keras" in sys.modules:
            env.patch_keras(sys.modules["keras"])

    ip.events.register("pre_run_cell", imported_hook)
    imported_hook()
