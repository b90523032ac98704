"""Reads every conversation of one (page, platform, folder) with Meta's official SDK.

Usage: sdk_reads_all.py BASE_URL TOKEN APP_SECRET PAGE_ID PLATFORM FOLDER LIMIT
Prints one conversation id per line, in the order the SDK's cursor yields them.
"""

import sys

from facebook_business.adobjects.page import Page
from facebook_business.api import FacebookAdsApi
from facebook_business.session import FacebookSession


def main() -> int:
    base, token, secret, page_id, platform, folder, limit = sys.argv[1:8]
    # The SDK hard-codes https://graph.facebook.com as FacebookSession.GRAPH; point it at the
    # emulator before the session is created.
    FacebookSession.GRAPH = base
    FacebookAdsApi.init(app_secret=secret, access_token=token, api_version="v19.0")
    cursor = Page(page_id).get_conversations(
        fields=["id", "updated_time", "participants", "snippet"],
        params={"platform": platform, "folder": folder, "limit": int(limit)},
    )
    for conversation in cursor:
        print(conversation["id"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
