# A clean Debian with Python and pip, for the installer tests.
# Built with --network host; the apt sources inside are the ones debootstrap
# wrote (this machine's own mirror). Check-Valid-Until is off because a
# snapshot mirror's Release files carry an expired Valid-Until date.
ARG BASE=aistack-test/debian:bookworm
FROM ${BASE}
RUN apt-get -o Acquire::Check-Valid-Until=false -o Acquire::Check-Date=false update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      python3 python3-venv python3-pip ca-certificates >/dev/null \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
CMD ["/bin/bash"]
