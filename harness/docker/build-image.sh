#!/usr/bin/env bash
# Builds the local Redis image the harness's docker backend runs (default `redmutex/redis:local`)
# without any registry: `FROM scratch` plus this machine's `redis-server` binary, exactly the
# shared libraries `ldd` lists for it, the dynamic loader, a /tmp and a minimal /etc/passwd.
#
#   harness/docker/build-image.sh [IMAGE:TAG]
#
# The binary is $REDMUTEX_REDIS_SERVER, else `redis-server` from PATH. Safe to run again: an
# unchanged binary rebuilds from docker's cache and re-tags the same image.
set -euo pipefail

image="${1:-redmutex/redis:local}"

fail() {
    echo "build-image: $*" >&2
    exit 1
}

command -v docker >/dev/null 2>&1 ||
    fail "docker is not installed; install the Docker engine (apt-get install docker.io)"
docker info >/dev/null 2>&1 ||
    fail "cannot talk to the Docker engine; is it running, and may this user use it?"
command -v ldd >/dev/null 2>&1 || fail "ldd is missing (apt-get install libc-bin)"

server="${REDMUTEX_REDIS_SERVER:-$(command -v redis-server || true)}"
[ -n "$server" ] ||
    fail "redis-server is not installed; install it (apt-get install redis-server) or set REDMUTEX_REDIS_SERVER"
# Debian's redis-check-* are links to the server, which picks its mode by its name: copy the
# real file under the name redis-server.
named="$server"
server="$(readlink -f "$server")"
[ -x "$server" ] || fail "$server is not an executable file"

context="$(mktemp -d "${TMPDIR:-/tmp}/redmutex-image.XXXXXX")"
trap 'rm -rf "$context"' EXIT
root="$context/root"
mkdir -p "$root/usr/bin" "$root/etc" "$root/tmp" "$root/data"
chmod 1777 "$root/tmp"
cp "$server" "$root/usr/bin/redis-server"

# `name => /path (0x...)` for libraries, `/path (0x...)` for the loader; vdso has no file.
libs="$(ldd "$server" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')"
[ -n "$libs" ] || fail "ldd lists no libraries for $server (a static binary needs none: check ldd's output)"
if ldd "$server" | grep -q "not found"; then
    fail "some libraries of $server are missing on this machine: $(ldd "$server" | grep 'not found')"
fi
while IFS= read -r lib; do
    # Keep each library at the path the loader looks in; -L stores the file, not the link.
    cp --parents -L "$lib" "$root"
done <<<"$libs"

printf 'root:x:0:0:root:/data:/usr/bin/redis-server\nredis:x:999:999:redis:/data:/usr/bin/redis-server\n' >"$root/etc/passwd"
printf 'root:x:0:\nredis:x:999:\n' >"$root/etc/group"

cat >"$context/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY root/ /
ENV PATH=/usr/bin
WORKDIR /data
EXPOSE 6379
CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--save", ""]
DOCKERFILE

version="$("$named" --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')"
if ! docker build --label "org.redmutex.redis-version=${version:-unknown}" \
    --tag "$image" "$context" >"$context/build.log" 2>&1; then
    cat "$context/build.log" >&2
    fail "docker build of $image failed (its output is above)"
fi
echo "built $image (redis-server ${version:-unknown}, $(wc -l <<<"$libs") libraries)"
