# Sourced by the vhost-user benches: ensure_vhost_jar builds the distro jar at $JAR (./bundlevisor build) when it is
# missing or lacks platform.vhost. Needs ROOT, JAR, log.
ensure_vhost_jar() {
    if [[ ! -f $JAR ]] || ! python3 -c 'import sys, zipfile
sys.exit(not any("platform.vhost" in n for n in zipfile.ZipFile(sys.argv[1]).namelist()))' "$JAR"; then
        log "building the distro jar (./bundlevisor build)"
        (cd "$ROOT" && ./bundlevisor build >&2)
    fi
}
