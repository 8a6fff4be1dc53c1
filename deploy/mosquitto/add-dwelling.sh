#!/bin/sh
# Add (or reset) a dwelling's broker credentials and print them once.
#   add-dwelling.sh dw-017 [password-file]
# The username is the dwelling's pseudonymous id, which the ACL's %u patterns rely on.
# Register the dwelling in the hub too: mz admin dwelling add dw-017 --label "..."
set -eu

id="${1:?usage: add-dwelling.sh DWELLING_ID [PASSWORD_FILE]}"
pwfile="${2:-/etc/mosquitto/mz.passwd}"

case "$id" in
    *[!a-z0-9_-]* | [!a-z0-9]* | ?) echo "not a pseudonymous id: $id" >&2; exit 2 ;;
esac
[ "${#id}" -le 64 ] || { echo "id longer than 64 characters" >&2; exit 2; }

password="$(head -c 24 /dev/urandom | base64 | tr -d '/+=\n')"
touch "$pwfile"
chmod 0640 "$pwfile"
# -b: password from the argument; mosquitto_passwd offers no stdin mode. It is visible
# to other local users in the process list for a moment: run this as root on the broker.
mosquitto_passwd -b "$pwfile" "$id" "$password"

# Reload the password file without dropping connections.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet mosquitto 2>/dev/null; then
    systemctl reload mosquitto
fi

printf 'dwelling %s\nbroker username: %s\nbroker password: %s\n' "$id" "$id" "$password"
echo "Put these in the dwelling's edge configuration; they are not stored anywhere else." >&2
