#!/usr/bin/env python3
"""Keep a local SQLite copy of a scimgate directory's users in sync.

It lists every user once, then follows the change feed with long-polls.
Each page of events and the cursor after it are written in one SQLite
transaction, so a crash never skips or double-applies an event. Applying
an event is an upsert or a delete, so replaying one is harmless. Only the
Python standard library is used.

Usage:
    SCIMGATE_URL=http://127.0.0.1:8080 SCIMGATE_TOKEN=scimgate_... \
        python3 follow_feed.py users.db
"""

import json
import os
import sqlite3
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

BASE = os.environ.get("SCIMGATE_URL", "http://127.0.0.1:8080").rstrip("/")
TOKEN = os.environ["SCIMGATE_TOKEN"]  # scimgate token create --directory NAME --scope read
WAIT_SECONDS = 20  # must not exceed the server's --feed-max-wait-secs


class CursorExpired(Exception):
    """The feed returned 410: events after our cursor were pruned."""


def get(path, params=None):
    query = "?" + urllib.parse.urlencode(params) if params else ""
    request = urllib.request.Request(
        BASE + path + query, headers={"Authorization": "Bearer " + TOKEN}
    )
    try:
        with urllib.request.urlopen(request, timeout=WAIT_SECONDS + 10) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        if error.code == 410:
            raise CursorExpired(json.load(error)["detail"]) from error
        raise


def open_db(path):
    db = sqlite3.connect(path)
    db.execute(
        "create table if not exists users ("
        " id text primary key, user_name text, email text, active integer, raw text)"
    )
    db.execute("create table if not exists sync_state (cursor text not null)")
    return db


def save_user(db, user):
    db.execute(
        "insert into users (id, user_name, email, active, raw) values (?, ?, ?, ?, ?)"
        " on conflict (id) do update set user_name = excluded.user_name,"
        " email = excluded.email, active = excluded.active, raw = excluded.raw",
        (user["id"], user["user_name"], user["primary_email"], int(user["active"]), json.dumps(user)),
    )


def set_cursor(db, cursor):
    db.execute("delete from sync_state")
    db.execute("insert into sync_state (cursor) values (?)", (cursor,))


def resynchronise(db):
    """List every user, then return the feed cursor to follow from."""
    with db:
        db.execute("delete from users")
        feed_cursor = None
        params = {"limit": 500}
        while True:
            page = get("/api/v1/users", params)
            # The first page's feed_cursor was read before any page, so
            # following the feed from it misses no change made meanwhile.
            feed_cursor = feed_cursor or page["feed_cursor"]
            for user in page["data"]:
                save_user(db, user)
            if page["next_cursor"] is None:
                break
            params["after"] = page["next_cursor"]
        set_cursor(db, feed_cursor)
    print(f"resynchronised; following the feed from {feed_cursor}")
    return feed_cursor


def apply(db, event):
    if event["resource_type"] != "user":
        return  # this example keeps users only; groups work the same way
    if event["type"] == "user.deleted":
        db.execute("delete from users where id = ?", (event["resource_id"],))
    else:  # created, updated, deactivated, reactivated: data is the user
        save_user(db, event["data"])


def main(path):
    db = open_db(path)
    row = db.execute("select cursor from sync_state").fetchone()
    cursor = row[0] if row else resynchronise(db)
    while True:
        try:
            page = get("/api/v1/events", {"after": cursor, "limit": 500, "wait": WAIT_SECONDS})
        except CursorExpired as expired:
            print(f"cursor {cursor} expired: {expired}")
            cursor = resynchronise(db)
            continue
        except (urllib.error.URLError, TimeoutError) as error:
            print(f"feed request failed ({error}); retrying in 5 s")
            time.sleep(5)
            continue
        with db:  # the events and the cursor commit together
            for event in page["events"]:
                apply(db, event)
                print(f"{event['id']} {event['type']} {event['resource_id']}")
            set_cursor(db, page["next_cursor"])
        cursor = page["next_cursor"]


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "users.db")
