#!/bin/bash
# Runs the Java test program with the JNI library and the gateway from the
# runfiles: run_java_test.sh STOWAWAY_JAR TEST_JAR LIBSTOWAWAY_JNI GATEWAY
set -euo pipefail
jar="$1"
test_jar="$2"
lib="$3"
gateway="$4"
libdir="$(cd "$(dirname "$lib")" && pwd)"
java_opts=(-Xcheck:jni "-Djava.library.path=$libdir")
# Under --config=asan the JNI library needs the ASan runtime loaded first;
# the JVM uses SIGSEGV itself and leaks on purpose at exit.
asan_rt="$(ldd "$lib" | awk '/libasan\.so/ {print $3}')"
if [[ -n "$asan_rt" ]]; then
  export LD_PRELOAD="$asan_rt"
  export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}handle_segv=0:allow_user_segv_handler=1:detect_leaks=0"
fi
exec java "${java_opts[@]}" -cp "$jar:$test_jar" org.stowaway.StowawayTest "$gateway"
