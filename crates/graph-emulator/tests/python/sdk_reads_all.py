"""Reads every conversation of one page with Meta's official SDK (facebook-business).

Usage: sdk_reads_all.py BASE_URL TOKEN APP_SECRET PAGE_ID LIMIT
For every platform and folder, walks the SDK's `Page(...).get_conversations(...)` cursor and
prints one line per conversation: `<platform> <folder> <conversation id>`, in cursor order.
"""

import sys

from facebook_business.adobjects.page import Page
from facebook_business.api import FacebookAdsApi
from facebook_business.session import FacebookSession

PLATFORMS = ["MESSENGER", "INSTAGRAM"]
FOLDERS = ["inbox", "other", "page_done", "spam"]


def main() -> int:
    base, token, secret, page_id, limit = sys.argv[1:6]
    # The SDK hard-codes https://graph.facebook.com as FacebookSession.GRAPH; point it at the
    # emulator before the session is created. With app_secret the SDK adds appsecret_proof.
    FacebookSession.GRAPH = base
    FacebookAdsApi.init(app_secret=secret, access_token=token, api_version="v19.0")
    for platform in PLATFORMS:
        for folder in FOLDERS:
            cursor = Page(page_id).get_conversations(
                fields=["id", "updated_time", "participants", "snippet"],
                params={"platform": platform, "folder": folder, "limit": int(limit)},
            )
            for conversation in cursor:
                print(platform.lower(), folder, conversation["id"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
