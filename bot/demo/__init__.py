"""The demo: demo data, the fake WeChat and the bot in one process, with a chat simulator.

`runner.demo_stack` is the reusable piece (the CLI's `demo` and `simulate`, the tests and the
benchmark all start it); `page` serves the browser simulator, `terminal` the terminal one.
"""
