# shellcheck shell=sh
# Sourced by the cluster service and by the scripts that read its state.
#
#   dagger_session    prints the Dagger session this container runs in, or nothing when it cannot tell
#
# Dagger appends its session's DNS domain, <hash of the session id>.dagger.local, to the search domains of
# every container it runs in that session, services and execs alike (engine/engineutil/executor_spec.go;
# network/hosts.go SessionDomain; a module's domain is <module hash>.<session hash>.dagger.local). The
# label before .dagger.local therefore names the session: equal in a service and in an exec of the same
# `dagger call`, different in another one. RESOLV_CONF (default /etc/resolv.conf) is a file in the tests.

dagger_session() {
    awk '$1 == "search" {
        for (i = 2; i <= NF; i++) {
            domain = $i
            if (sub(/\.dagger\.local\.?$/, "", domain)) { n = split(domain, labels, "."); session = labels[n] }
        }
    }
    END { print session }' "${RESOLV_CONF:-/etc/resolv.conf}" 2>/dev/null || :
}
