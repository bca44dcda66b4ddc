#!/bin/sh
# Regenerates everything made from schema/: protobuf-c code, nanopb code,
# our JSON codecs, nanopb .options, and the protocol docs.
#
#   codegen/regen.sh PLUGIN [ROOT]
#
# PLUGIN is the built protoc-gen-ttb (e.g. build/codegen/protoc-gen-ttb);
# ROOT is where generated/ and docs/ are written (default: the source tree).
# tests/codegen/fresh.sh runs it into a temporary ROOT and fails when the
# committed files differ. `meson compile -C build regen` runs it in place.
set -eu
SRC=$(cd "$(dirname "$0")/.." && pwd)
PLUGIN=${1:?usage: codegen/regen.sh PATH-TO-protoc-gen-ttb [ROOT]}
ROOT=${2:-$SRC}
case $PLUGIN in /*) ;; *) PLUGIN=$(pwd)/$PLUGIN ;; esac
NANOPB=$(command -v protoc-gen-nanopb) || { echo "regen: protoc-gen-nanopb not found (apt-get install nanopb)" >&2; exit 1; }

cd "$SRC/schema"
V1=$(ls ttboost/v1/*.proto | LC_ALL=C sort)
G=$ROOT/generated
rm -rf "$G/pb-c" "$G/nanopb" "$G/json"
mkdir -p "$G/pb-c" "$G/nanopb" "$G/json" "$ROOT/docs/protocol" "$ROOT/docs/api"

# The plugin's own input: descriptor.proto and plugin.proto, read with protobuf-c.
protoc -I/usr/include --c_out="$G/pb-c" google/protobuf/descriptor.proto google/protobuf/compiler/plugin.proto
# protobuf-c structs (server) of the schema and its options.
protoc -I. -I/usr/include --c_out="$G/pb-c" ttboost/options.proto $V1
# TikTok's webcast push protocol (the connector's subset): protobuf-c only.
protoc -I. --c_out="$G/pb-c" tiktok/webcast.proto
# The speech worker's protocol (server-internal): protobuf-c only.
protoc -I. --c_out="$G/pb-c" ttboost/worker/tts_worker.proto
# protoc-gen-ttb: JSON codecs, nanopb bounds, docs.
protoc -I. -I/usr/include --plugin=protoc-gen-ttb="$PLUGIN" --ttb_out=json:"$G/json" $V1
protoc -I. -I/usr/include --plugin=protoc-gen-ttb="$PLUGIN" --ttb_out=nanopb:"$G/nanopb" $V1
protoc -I. -I/usr/include --plugin=protoc-gen-ttb="$PLUGIN" --ttb_out=docs:"$ROOT/docs" $V1
# nanopb structs (client), sized by the .options just written.
protoc -I. -I/usr/include --plugin=protoc-gen-nanopb="$NANOPB" \
  --nanopb_opt=-I"$G/nanopb" --nanopb_out="$G/nanopb" $V1
echo "regen: wrote $G and $ROOT/docs/{protocol,api}"
