#!/usr/bin/env bash
# Make a throw-away PKI for a secured test broker with openssl: a CA, a broker certificate for
# 127.0.0.1/localhost, one client certificate per CLIENT (CN=CLIENT, for mTLS principals), and a
# second, unrelated CA ("other") that a client can wrongly trust.
#
# Usage: deploy/kafka/secure/make-certs.sh OUT_DIR [CLIENT...]
# Writes (keys mode 0600, PKCS#8, unencrypted):
#   ca.pem, ca.key                  the test CA (the broker's truststore: it signs every client cert)
#   other-ca.pem                    a CA that signed nothing here
#   broker-keystore.pem             broker certificate chain + key in one file (ssl.keystore.type=PEM)
#   misnamed-broker-keystore.pem    the same for a certificate naming another host (DNS:broker.elsewhere.invalid)
#   CLIENT.pem, CLIENT.key          a client certificate and its key
set -euo pipefail
[[ $# -ge 1 ]] || { echo "usage: $0 OUT_DIR [CLIENT...]" >&2; exit 2; }
out="$1"
shift
mkdir -p "$out"
cd "$out"
umask 077
days=7
org="/O=alpr-monitor test"

new_key() { openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1" 2>/dev/null; }

new_ca() { # NAME
    new_key "$1.key"
    openssl req -x509 -new -key "$1.key" -out "$1.pem" -days "$days" -subj "$org/CN=$1 test CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

new_leaf() { # NAME EXTENSIONS
    local ext
    ext="$(mktemp)"
    printf '%b\n' "$2" >"$ext"
    new_key "$1.key"
    openssl req -new -key "$1.key" -out "$1.csr" -subj "$org/CN=$1" 2>/dev/null
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$1.pem" -days "$days" \
        -extfile "$ext" 2>/dev/null
    rm -f "$1.csr" "$ext"
}

new_ca ca
new_ca other-ca
rm -f other-ca.key
new_leaf broker "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth"
cat broker.pem broker.key >broker-keystore.pem
rm -f broker.key
# A certificate that does not name the host clients dial: for the hostname-check listener.
new_leaf misnamed-broker "subjectAltName=DNS:broker.elsewhere.invalid\nextendedKeyUsage=serverAuth,clientAuth"
cat misnamed-broker.pem misnamed-broker.key >misnamed-broker-keystore.pem
rm -f misnamed-broker.key
for client in "$@"; do
    new_leaf "$client" "extendedKeyUsage=clientAuth"
done
chmod 0644 ./*.pem
chmod 0600 ./*.key ./*-keystore.pem
