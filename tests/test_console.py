"""The Console (``deployer.console``): on a real pty (pexpect) and on DummyPty."""
from __future__ import annotations

import os
import sys
import tempfile
import textwrap

import pexpect
import pytest

from deployer.console import Console, NoInput, ProgressBarSteps
from deployer.exceptions import DeployerException
from deployer.pseudo_terminal import DummyPty

pytestmark = pytest.mark.timeout(60)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# -- a real terminal -----------------------------------------------------------

def spawn(body: str, rows: int = 24, cols: int = 80) -> pexpect.spawn:
    """Run ``body`` in a python child whose stdin/stdout is a pty; ``console`` is ready."""
    tmp = tempfile.mkdtemp(prefix="console-test-")
    script = os.path.join(tmp, "child.py")
    with open(script, "w") as f:
        f.write("import sys\nsys.path.insert(0, %r)\n" % REPO)
        f.write("from deployer.console import Console, ProgressBarSteps\n")
        f.write("from deployer.pseudo_terminal import Pty\n")
        f.write("console = Console(Pty())\n")
        f.write(textwrap.dedent(body))
        f.write("\nprint('CHILD-DONE')\n")
    env = dict(os.environ, PROMPT_TOOLKIT_NO_CPR="1", TERM="xterm")
    child = pexpect.spawn(sys.executable, [script], dimensions=(rows, cols), encoding="utf-8",
                          timeout=15, env=env)
    return child


def finish(child: pexpect.spawn) -> str:
    child.expect("CHILD-DONE")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    return child.before


def test_password_shows_stars_not_the_secret():
    child = spawn("""
        value = console.input('Password', is_password=True)
        print('GOT=%r' % value)
    """)
    child.expect_exact("Password: ")
    child.send("s3cret")
    child.expect_exact("******")
    child.send("\r")
    child.expect_exact("GOT='s3cret'")
    transcript = child.before
    finish(child)
    assert "s3cret" not in transcript


def test_password_backspace_and_ctrl_u():
    child = spawn("""
        print('GOT=%r' % console.input('Password', is_password=True))
    """)
    child.expect_exact("Password: ")
    child.send("abcd\x7f")          # backspace erases the d
    child.expect_exact("****\b \b")
    child.send("xyz\x15")           # Ctrl-U erases the line
    child.send("ok\r")
    child.expect_exact("GOT='ok'")
    finish(child)


def test_password_ctrl_c_raises_keyboard_interrupt_and_restores_echo():
    child = spawn("""
        import termios
        try:
            console.input('Password', is_password=True)
        except KeyboardInterrupt:
            print('INTERRUPTED')
        lflag = termios.tcgetattr(0)[3]
        print('ECHO-ON=%s' % bool(lflag & termios.ECHO))
    """)
    child.expect_exact("Password: ")
    child.send("ab\x03")
    child.expect_exact("INTERRUPTED")
    child.expect_exact("ECHO-ON=True")
    finish(child)


def test_confirm_choice_and_input_on_a_terminal():
    child = spawn("""
        print('CONFIRM=%r' % console.confirm('Deploy now?', default=False))
        print('CONFIRM2=%r' % console.confirm('Really?'))
        print('CHOICE=%r' % console.choice('Which database', [('postgres', 1), ('mysql', 2)]))
        print('NAME=%r' % console.input('Name', default='web'))
    """)
    child.expect_exact("Deploy now? [y/N] ")
    child.send("\r")                     # empty: the default
    child.expect_exact("CONFIRM=False")
    child.expect_exact("Really? [y/n] ")
    child.send("maybe\r")
    child.expect_exact("Please answer 'y' or 'n'.")
    child.send("yes\r")
    child.expect_exact("CONFIRM2=True")
    child.expect_exact("Which database")
    child.expect_exact("Choose a number or name: ")
    child.send("7\r")
    child.expect_exact("Invalid choice '7'.")
    child.send("mysql\r")
    child.expect_exact("CHOICE=2")
    child.expect_exact("Name [web]: ")
    child.send("db1\r")
    child.expect_exact("NAME='db1'")
    finish(child)


def test_input_with_answers_completes_on_tab():
    child = spawn("""
        print('FRUIT=%r' % console.input('Fruit', answers=['apple', 'banana']))
    """)
    child.expect_exact("Fruit:")  # prompt_toolkit draws the space as a cursor move
    child.send("ban\t")
    child.expect_exact("banana")
    child.send("\r")
    child.expect_exact("FRUIT='banana'")
    finish(child)


def test_lesspipe_pages_and_q_quits():
    child = spawn("""
        pulled = []
        def lines():
            for i in range(100):
                pulled.append(i)
                yield 'line %03d' % i
        console.lesspipe(lines())
        print('PULLED=%d' % len(pulled))
    """, rows=10)
    child.expect_exact("line 008")          # a page is rows - 1 lines
    child.expect_exact("-- More --")
    assert "line 009" not in child.before
    child.send(" ")
    child.expect_exact("line 017")
    child.expect_exact("-- More --")
    child.send("q")
    child.expect(r"PULLED=(\d+)")
    pulled = int(child.match.group(1))
    out = finish(child)
    assert "line 018" not in out
    assert pulled <= 20                      # lines are pulled lazily, not all 100


def test_lesspipe_ctrl_c_quits_and_short_output_does_not_page():
    child = spawn("""
        console.lesspipe('line %03d' % i for i in range(100))
        print('AFTER-FIRST')
        console.lesspipe(['short 1', 'short 2'])
        print('AFTER-SECOND')
    """, rows=10)
    child.expect_exact("-- More --")
    child.send("\x03")
    child.expect_exact("AFTER-FIRST")
    child.expect_exact("short 2")
    child.expect_exact("AFTER-SECOND")
    out = finish(child)
    assert "More" not in out


def test_progress_bar_redraws_on_a_terminal():
    child = spawn("""
        import time
        with console.progress_bar('Looking for nodes', expected=5) as p:
            for i in range(5):
                time.sleep(0.12)
                p.next()
        steps = ProgressBarSteps({1: 'Resolving address', 2: 'Create transport'})
        with console.progress_bar_with_steps('Connecting', steps=steps) as p:
            p.set_progress(1)
            p.set_progress(2)
    """)
    child.expect_exact("\rLooking for nodes: [")
    child.expect_exact("5/5 (100%) Done")
    child.expect_exact("Resolving address")
    child.expect_exact("2/2 Create transport Done")
    finish(child)


# -- DummyPty: scripted answers, non-interactive defaults ------------------------

def test_scripted_answers_on_a_dummy_pty():
    pty = DummyPty("db1\n\nn\n2\nsecret\n")
    console = Console(pty)
    assert console.is_interactive
    assert console.pty is pty
    assert console.input("Name") == "db1"
    assert console.input("Port", default="5432") == "5432"
    assert console.confirm("Sure?", default=True) is False
    assert console.choice("Pick", [("a", "A"), ("b", "B")]) == "B"
    assert console.input("Password", is_password=True) == "secret"
    out = pty.get_output()
    assert "Name: db1\n" in out
    assert "secret" not in out                   # the password is never echoed


def test_invalid_answers_are_asked_again():
    pty = DummyPty("pear\napple\n")
    assert Console(pty).input("Fruit", answers=["apple", "banana"]) == "apple"
    assert "Invalid answer 'pear'" in pty.get_output()


def test_non_interactive_chooses_defaults_without_reading():
    pty = DummyPty("this must not be read\n", interactive=False)
    console = Console(pty)
    assert not console.is_interactive
    assert console.confirm("Go?", default=True) is True
    assert console.confirm("Go?", default=False) is False
    assert console.input("Name", default="web") == "web"
    assert console.choice("Pick", [("a", 1), ("b", 2)], default=2) == 2
    assert console.choice("Pick", [("a", 1), ("b", 2)], default="a") == 1
    assert console.choice("Pick", [("a", 1), ("b", 2)], allow_random=True) in (1, 2)
    assert pty.stdin.read() == "this must not be read\n"


@pytest.mark.parametrize("ask", [
    lambda c: c.confirm("Drop the database?"),
    lambda c: c.input("Drop the database?"),
    lambda c: c.input("Drop the database?", is_password=True),
    lambda c: c.choice("Drop the database?", [("yes", 1), ("no", 0)]),
])
def test_non_interactive_question_without_default_is_a_clear_error(ask):
    console = Console(DummyPty("", interactive=False))
    with pytest.raises(NoInput) as info:
        ask(console)
    assert isinstance(info.value, DeployerException)
    assert "Drop the database?" in str(info.value)
    assert "not interactive" in str(info.value)


def test_end_of_input_is_a_clear_error_not_a_hang():
    console = Console(DummyPty(""))  # interactive, but nothing will ever come
    with pytest.raises(NoInput, match="input ended"):
        console.confirm("Continue?")
    with pytest.raises(NoInput, match="input ended"):
        console.choice("Which?", [("a", 1)])
    assert console.input("Name", default="x") == "x"


def test_choice_default_must_be_an_option():
    with pytest.raises(ValueError):
        Console(DummyPty("")).choice("Pick", [("a", 1)], default=3)
    with pytest.raises(ValueError):
        Console(DummyPty("")).choice("Pick", [])


def test_in_columns_fits_the_width():
    pty = DummyPty()
    pty.set_size(24, 40)
    items = ["item%02d" % i for i in range(20)]
    Console(pty).in_columns(items, margin_left=4)
    lines = pty.get_output().splitlines()
    assert all(len(line) <= 40 for line in lines)
    assert all(line.startswith("    item") for line in lines)
    # column by column, like ls: the first column holds the first items
    assert len(lines) == 5 and lines[0].split() == ["item00", "item05", "item10", "item15"]
    assert sorted(w for line in lines for w in line.split()) == items


def test_in_columns_uses_the_given_length_of_coloured_items():
    pty = DummyPty()
    pty.set_size(24, 30)
    red = "\x1b[31mred\x1b[0m"
    Console(pty).in_columns([(red, 3), ("green", 5), ("blue", 4)])
    first = pty.get_output().splitlines()[0]
    # 5 + 2 wide columns: the coloured item is padded by its visible length
    assert first == red + " " * 4 + "green  blue"


def test_in_columns_one_column_when_items_are_wider_than_the_terminal():
    pty = DummyPty()
    pty.set_size(24, 10)
    Console(pty).in_columns(["a" * 30, "b"])
    assert pty.get_output() == "a" * 30 + "\n" + "b\n"


def test_lesspipe_without_terminal_prints_everything():
    pty = DummyPty()
    pty.set_size(5, 80)
    Console(pty).lesspipe("line %d" % i for i in range(50))
    assert pty.get_output().count("\n") == 50


def test_progress_bar_off_terminal_writes_the_final_line_only():
    pty = DummyPty()
    console = Console(pty)
    with console.progress_bar("Counting", expected=1000) as p:
        for _ in range(1000):
            p.next()
    assert pty.get_output() == "Counting: [" + "#" * 30 + "] 1000/1000 (100%) Done\n"
    pty2 = DummyPty()
    with pytest.raises(RuntimeError):
        with Console(pty2).progress_bar("Counting") as p:
            p.next()
            raise RuntimeError("stop")
    assert pty2.get_output() == "Counting: \\ 1 Failed\n"
    pty3 = DummyPty()
    with Console(pty3).progress_bar("Quiet", clear_on_finish=True) as p:
        p.next()
    assert pty3.get_output() == ""


def test_progress_bar_custom_format_and_steps():
    pty = DummyPty()
    with Console(pty).progress_bar("X", expected=4, format_str="%(counter)s of %(expected)s %(status)s") as p:
        p.next()
        p.next()
    assert pty.get_output() == "2 of 4 Done\n"
    steps = ProgressBarSteps({1: "Resolving address", 2: "Create transport", 3: "Get remote key",
                              4: "Authenticating"})
    pty = DummyPty()
    with Console(pty).progress_bar_with_steps("Connecting to SSH server", steps=steps) as p:
        p.set_progress(1)
        p.set_progress(3)
    assert pty.get_output() == "Connecting to SSH server: [" + "#" * 22 + " " * 8 + "] 3/4 Get remote key Done\n"


def test_progress_bar_counts_from_threads():
    import threading
    pty = DummyPty()
    with Console(pty).progress_bar("Hosts", expected=800) as p:
        threads = [threading.Thread(target=lambda: [p.next() for _ in range(100)]) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert p.counter == 800


def test_warning():
    pty = DummyPty()
    Console(pty).warning("disk almost full")
    assert pty.get_output() == "*** WARNING: disk almost full\n"


# -- node selection ------------------------------------------------------------

def _web_system():
    from deployer.host import LocalHost
    from deployer.node import Node, ParallelNode

    class Web1(LocalHost):
        slug = "web1"

    class Web2(LocalHost):
        slug = "web2"

    class Root(Node):
        class Hosts:
            web = [Web1, Web2]

        class Servers(ParallelNode.Array):
            def deploy(self):
                return self.host.slug

        class Database(Node):
            class Git(Node):
                def checkout(self):
                    pass

    return Root


def _env(root_class, answers="", interactive=True):
    from deployer.loggers import NullLogger
    from deployer.node import Env
    pty = DummyPty(answers, interactive=interactive)
    return Env(root_class(), pty=pty, logger=NullLogger()), pty


def test_select_node_isolation_asks_for_a_host():
    env, pty = _env(_web_system(), answers="web2\n")
    cell = env.console.select_node_isolation(env.Servers)
    assert cell.deploy() == "web2"
    out = pty.get_output()
    assert "Choose a host" in out and "web1" in out and "web2" in out


def test_select_node_isolation_by_number_and_single_host():
    env, _ = _env(_web_system(), answers="1\n")
    assert env.console.select_node_isolation(env.Servers).deploy() == "web1"
    # a normal node is one isolation already: no question
    env, pty = _env(_web_system())
    node = env.Database
    assert env.console.select_node_isolation(node) is node
    assert pty.get_output() == ""


def test_select_node_isolation_non_interactive_is_a_clear_error():
    env, _ = _env(_web_system(), interactive=False)
    with pytest.raises(NoInput, match="Choose a host"):
        env.console.select_node_isolation(env.Servers)


def test_select_node_by_path():
    from deployer.node import Node
    root = _web_system()()
    console = Console(DummyPty("Nope\nDatabase.Git\n"))
    node = console.select_node(root)
    assert isinstance(node, Node) and type(node).__name__ == "Git"
    out = console.pty.get_output()
    assert "Invalid answer 'Nope'" in out and "Select a node" in out


def test_select_node_with_a_filter_and_non_interactive():
    from deployer.inspection.filters import HasAction
    root = _web_system()()
    console = Console(DummyPty("Database\nDatabase.Git\n"))
    node = console.select_node(root, prompt="Which checkout", filter=HasAction("checkout"))
    assert type(node).__name__ == "Git"
    assert "Invalid answer 'Database'" in console.pty.get_output()
    with pytest.raises(NoInput, match="Select a node"):
        Console(DummyPty("", interactive=False)).select_node(root)


def test_select_node_completes_paths_on_a_terminal():
    child = spawn("""
        from deployer.node import Node

        class Root(Node):
            class Database(Node):
                class Git(Node):
                    def checkout(self):
                        pass
            class Web(Node):
                pass

        node = console.select_node(Root())
        print('SELECTED=%s' % type(node).__name__)
    """)
    child.expect_exact("Select a node:")
    child.send("Database.G\t")
    child.expect_exact("Database.Git")
    child.send("\r")
    child.expect_exact("SELECTED=Git")
    finish(child)


def test_parallel_questions_on_one_terminal_are_asked_one_at_a_time():
    child = spawn("""
        import threading
        from deployer.console import Console
        results = {}
        def ask(name):
            # each cell has its own Console on a copy of the same terminal
            results[name] = Console(console.pty.copy()).input('Question ' + name)
        threads = [threading.Thread(target=ask, args=(n,)) for n in 'AB']
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print('RESULTS=%s' % ','.join('%s:%s' % item for item in sorted(results.items())))
    """)
    child.expect(r"Question ([AB]): ")
    first = child.match.group(1)
    # the other cell waits for the first answer: no second prompt yet
    assert child.expect([r"Question [AB]: ", pexpect.TIMEOUT], timeout=0.5) == 1
    child.send("answer-%s\r" % first)
    child.expect(r"Question ([AB]): ")
    second = child.match.group(1)
    assert {first, second} == {"A", "B"}
    assert "Question" not in child.before  # the second prompt came only after the first answer
    child.send("answer-%s\r" % second)
    child.expect_exact("RESULTS=A:answer-A,B:answer-B")
    finish(child)


def test_doc_sample_console_in_a_node():
    from deployer.node import Node
    done = []

    class MyNode(Node):
        def do_something(self):
            if self.console.confirm('Should we really do this?', default=True):
                # Do it...
                done.append(True)

        def count(self):
            with self.console.progress_bar('Looking for nodes') as p:
                for i in range(0, 1000):
                    p.next()
            steps = ProgressBarSteps({
                1: "Resolving address",
                2: "Create transport",
                3: "Get remote key",
                4: "Authenticating"})
            with self.console.progress_bar_with_steps('Connecting to SSH server', steps=steps) as p:
                p.set_progress(1)
                p.set_progress(2)
            return p.counter

    # --non-interactive: the default is chosen
    env, _ = _env(lambda: MyNode(), interactive=False)
    env.do_something()
    assert done == [True]
    # interactive: the user says no
    env, pty = _env(lambda: MyNode(), answers="n\n")
    env.do_something()
    assert done == [True]
    assert "Should we really do this? [Y/n] " in pty.get_output()
    assert env.count() == 2
    assert "Looking for nodes: - 1000 Done\n" in pty.get_output()
