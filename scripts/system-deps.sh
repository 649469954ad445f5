#!/usr/bin/env bash
# Installs the Debian packages parley's tests and demo use, when missing:
#   age             the reference age CLI (interop test: it decrypts parley ciphertexts)
#   openssh-client  ssh-keygen (offline verification of SSHSIG agreement signatures)
#   fonts-dejavu-core  a Unicode font for PDFs (Cyrillic and Turkish names)
#   tesseract-ocr, tesseract-ocr-eng  OCR of leaked screenshots and scans (parley trace, tests, demo)
#   chromium, chromium-driver  headless browser for the web UI tests (skip with PARLEY_UI_TESTS=0)
#   systemd         systemd-analyze (the tests verify the service units in contrib/)
# Needs root (or sudo) only when something is missing.
set -euo pipefail
want=()
command -v age >/dev/null 2>&1 || want+=(age)
command -v ssh-keygen >/dev/null 2>&1 || want+=(openssh-client)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || want+=(fonts-dejavu-core)
command -v tesseract >/dev/null 2>&1 || want+=(tesseract-ocr)
ls /usr/share/tesseract-ocr/*/tessdata/eng.traineddata >/dev/null 2>&1 || want+=(tesseract-ocr-eng)
command -v systemd-analyze >/dev/null 2>&1 || want+=(systemd)
if [ "${PARLEY_UI_TESTS:-1}" = "1" ]; then
  command -v chromium >/dev/null 2>&1 || want+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || want+=(chromium-driver)
fi
[ ${#want[@]} -eq 0 ] && exit 0
echo "installing system packages: ${want[*]}"
sudo=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "please install these Debian packages as root: ${want[*]}" >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
