"""The demo: a fake PBX speaking the real AMI wire protocol, simulated traffic modelled on
recorded calls, sample CRM data, and the runner behind ``callcenter demo``. Imported only by
the demo command and the tests."""
