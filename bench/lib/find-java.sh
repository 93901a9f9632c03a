# Sourced by the bench scripts: find_java prints a java binary of a JDK >= 25, as the launcher finds one (JAVA_HOME if
# it is one, else the newest in /usr/lib/jvm), or calls the script's die.

# The Java feature version of a java binary (25 for "25.0.3"), or nothing.
java_feature() {
    "$1" -XshowSettings:properties -version 2>&1 |
        sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p' | head -n 1
}

find_java() {
    local d v best="" best_v=0
    if [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]]; then
        v=$(java_feature "$JAVA_HOME/bin/java")
        if [[ -n $v && $v -ge 25 ]]; then echo "$JAVA_HOME/bin/java"; return; fi
    fi
    for d in /usr/lib/jvm/*/; do
        d=${d%/}
        [[ -x $d/bin/java && ! -L $d ]] || continue
        v=$(java_feature "$d/bin/java")
        if [[ -n $v && $v -ge 25 && $v -gt $best_v ]]; then best=$d/bin/java best_v=$v; fi
    done
    [[ -n $best ]] || die "no JDK 25 or later (set JAVA_HOME)"
    echo "$best"
}
