# vodstack: one image for every service (`vodstack serve | ingest | worker | origin | edge`).
#
#   docker build -t vodstack .
#   docker run --rm -p 8080:8080 -v vodstack-data:/var/lib/vodstack vodstack serve
#
# `serve` keeps its store and queue in /var/lib/vodstack: mount a volume there to keep them.
#
# compose.yaml runs the distributed set-up from this image.

# hls.js for the watch page, from npm at the version package-lock.json pins.
FROM node:20-bookworm-slim AS hlsjs
WORKDIR /web
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error

# Debian 12 (bookworm): its ffmpeg 5.1 is the one the test suite runs against.
FROM python:3.11-slim-bookworm

# ffmpeg and ffprobe from Debian: libx264, AAC and the HLS muxer are all the worker needs.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The package only: tests, benchmarks and docs stay out of the image.
WORKDIR /build
COPY pyproject.toml README.md ./
COPY vodstack ./vodstack
COPY ingest ./ingest
COPY transcoder ./transcoder
COPY origin ./origin
COPY edge_cache ./edge_cache
COPY webui ./webui
RUN pip install . && rm -rf /build
COPY --from=hlsjs /web/node_modules/hls.js/dist/hls.min.js /opt/vodstack/hls.min.js

# Never root: the services need no privilege, only their data directory.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/vodstack --create-home \
        --shell /usr/sbin/nologin vodstack
USER vodstack
WORKDIR /var/lib/vodstack

# Listen on every interface inside the container; everything else comes from VODSTACK_*.
ENV VODSTACK_HOST=0.0.0.0 \
    VODSTACK_PORT=8080 \
    VODSTACK_DATA_DIR=/var/lib/vodstack \
    VODSTACK_HLSJS_PATH=/opt/vodstack/hls.min.js
EXPOSE 8080

HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["vodstack", "check", "--live", "--timeout", "4"]

ENTRYPOINT ["vodstack"]
CMD ["serve"]
