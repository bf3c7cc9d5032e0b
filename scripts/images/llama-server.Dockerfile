# Test image shaped like the official llama.cpp server image: the server binary
# at /app/llama-server as the entrypoint, on a minimal Debian rootfs that
# scripts/test-images.sh debootstraps and imports (no registry is reachable).
ARG BASE=aistack-test/debian:bookworm
FROM ${BASE}
ARG LLAMA_SERVER_SHA256=unknown
LABEL io.aistack.test.llama-server.sha256=${LLAMA_SERVER_SHA256}
COPY llama-server /app/llama-server
WORKDIR /app
ENV LLAMA_ARG_HOST=0.0.0.0
ENTRYPOINT ["/app/llama-server"]
