# pixelproof: the image that makes baselines is the image that serves.
#
# Pinned, from pins.env (tests/it/packaging.rs fails when the ARGs below differ from it;
# scripts/repin-chromium updates both):
#   - the Debian chromium-headless-shell package version,
#   - PDFium from the pypdfium2 wheel, sha256 of the wheel and of libpdfium.so checked,
#   - the bundled fonts (fonts/, copied in; their hash is in every baseline manifest), with
#     Noto Sans CJK and Noto Color Emoji taken from the pinned Debian packages, sha256 checked.
# Runs as the non-root user `pixelproof`. Build: docker build -t pixelproof .
#   docker run -p 8080:8080 -e PIXELPROOF_TOKENS=ci:submit:$(openssl rand -hex 24) pixelproof
# (serve refuses to listen beyond loopback without tokens, and a secret under 16 characters).

ARG DEBIAN_RELEASE=bookworm

# --- 1. the binary -------------------------------------------------------------------
FROM rust:1.95-${DEBIAN_RELEASE} AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock pins.env ./
COPY benches benches
COPY src src
# Tests and benches are not built here; only the release binary.
RUN mkdir -p tests && cargo build --release --locked --bin pixelproof \
 && install -m 0755 target/release/pixelproof /usr/local/bin/pixelproof

# --- 2. PDFium from the pinned pypdfium2 wheel ----------------------------------------
FROM python:3.11-slim-${DEBIAN_RELEASE} AS pdfium
ARG PDFIUM_WHEEL_VERSION=5.15.2
ARG PDFIUM_WHEEL_SHA256=dc31aea5b0fb9fefc9b537a65f4113980b2c40798445736a7e6565bc85161e37
ARG PDFIUM_LIBRARY_SHA256=c76dc0f7839644bfa7c3e3107a6068df714e339c861bb7d4519907b821d427f9
WORKDIR /pdfium
RUN pip download --quiet --no-deps --only-binary=:all: --platform manylinux_2_17_x86_64 \
      "pypdfium2==${PDFIUM_WHEEL_VERSION}" -d . \
 && echo "${PDFIUM_WHEEL_SHA256}  $(ls pypdfium2-*.whl)" | sha256sum -c - \
 && python3 -c "import glob, zipfile; zipfile.ZipFile(glob.glob('pypdfium2-*.whl')[0]).extract('pypdfium2_raw/libpdfium.so', '.')" \
 && echo "${PDFIUM_LIBRARY_SHA256}  pypdfium2_raw/libpdfium.so" | sha256sum -c -

# --- 3. fonts too large for the repository, from the pinned Debian packages ----------
FROM debian:${DEBIAN_RELEASE}-slim AS fonts
ARG NOTO_CJK_PACKAGE_VERSION=1:20220127+repack1-1
ARG NOTO_EMOJI_PACKAGE_VERSION=2.042-0+deb12u1
ARG FONT_FILE_NOTO_SANS_CJK_REGULAR=noto-cjk/NotoSansCJK-Regular.ttc:b76b0433203017ca80401b2ee0dd69350349871c4b19d504c34dbdd80541690a
ARG FONT_FILE_NOTO_SANS_CJK_BOLD=noto-cjk/NotoSansCJK-Bold.ttc:faa5f3656a78b2e2d450d27fe8382c778bc2b6bb5ea29c986664a6a435056ceb
ARG FONT_FILE_NOTO_COLOR_EMOJI=noto-emoji/NotoColorEmoji.ttf:e5899ed38b8ed83e08bd3ac5de09791e9d19d288333a796de1d35ad17396f1ec
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      "fonts-noto-cjk=${NOTO_CJK_PACKAGE_VERSION}" "fonts-noto-color-emoji=${NOTO_EMOJI_PACKAGE_VERSION}" \
 && for spec in "$FONT_FILE_NOTO_SANS_CJK_REGULAR" "$FONT_FILE_NOTO_SANS_CJK_BOLD" "$FONT_FILE_NOTO_COLOR_EMOJI"; do \
      rel="${spec%%:*}"; src="$(dpkg -L fonts-noto-cjk fonts-noto-color-emoji | grep -m1 "/$(basename "$rel")\$")"; \
      echo "${spec##*:}  $src" | sha256sum -c - && install -D -m 0644 "$src" "/fonts/$rel" || exit 1; \
    done

# --- 4. the runtime --------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim
ARG CHROMIUM_PACKAGE_VERSION=156.0.8078.129-1~deb12u1
# chromium-headless-shell prints; weasyprint is the fallback renderer (run with /usr/bin/python3);
# fontconfig lets Chromium see only fonts/ (pixelproof writes its own fonts.conf).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      "chromium-headless-shell=${CHROMIUM_PACKAGE_VERSION}" weasyprint fontconfig ca-certificates tini \
 && apt-mark hold chromium-headless-shell \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /home/pixelproof --uid 10001 pixelproof \
 && mkdir -p /data && chown pixelproof /data
COPY --from=build /usr/local/bin/pixelproof /usr/local/bin/pixelproof
COPY --from=pdfium /pdfium/pypdfium2_raw/libpdfium.so /usr/local/lib/pixelproof/libpdfium.so
WORKDIR /srv/pixelproof
COPY pins.env ./
COPY fonts fonts
COPY --from=fonts /fonts/ fonts/
COPY templates templates
COPY --chown=pixelproof baselines baselines
USER pixelproof
ENV PIXELPROOF_PDFIUM=/usr/local/lib/pixelproof/libpdfium.so \
    PIXELPROOF_DATA=/data \
    PIXELPROOF_LISTEN=0.0.0.0:8080
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["tini", "--", "pixelproof"]
CMD ["serve"]
