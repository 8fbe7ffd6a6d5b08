"""One module per command group; `mechdsl.cli` adds `COMMANDS` to its group."""
from mechdsl.commands.compile_cmd import check_command, compile_command
from mechdsl.commands.solve_cmd import solve_command
from mechdsl.commands.sweep_cmd import sweep_command
from mechdsl.commands.train_cmd import eval_command, train_command

COMMANDS = (compile_command, check_command, solve_command, train_command, eval_command, sweep_command)
