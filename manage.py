#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mcp_platform.settings")
    from mcp_platform.management import main

    main(sys.argv)
