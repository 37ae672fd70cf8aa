"""The browser UI (templates/ and static/), shipped inside the wheel as ``callcenter.agent_ui``
(pyproject.toml maps this folder to that package) and read with importlib.resources."""
