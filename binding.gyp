{
  "variables": {
    "door_missing%": "<!(sh native/door/probe.sh)"
  },
  "target_defaults": {
    "include_dirs": [
      "<!(node -p \"require('node-addon-api').include_dir\")",
      "native"
    ],
    "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
    "cflags!": ["-fno-exceptions"],
    "cflags_cc!": ["-fno-exceptions"],
    "cflags_cc": ["-std=c++17", "-O3", "-fno-exceptions", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
    "cflags": ["-O3"]
  },
  "targets": [
    {
      "target_name": "syncache_core",
      "type": "static_library",
      "cflags": ["-fPIC"],
      "sources": [
        "native/boundary/errors.cc",
        "native/wire/parse.cc",
        "native/wire/build.cc",
        "native/cookie/md5.cc",
        "native/cookie/syncookie.cc",
        "native/pipeline/pipeline.cc",
        "native/pipeline/handoff_frames.cc",
        "native/route/next_hop_table.cc",
        "native/route/route_mirror.cc",
        "native/io/netns.cc",
        "native/io/bpf_filter.cc",
        "native/io/ring_socket.cc",
        "native/io/af_packet.cc",
        "native/io/af_packet_rx.cc",
        "native/io/af_packet_tx.cc",
        "native/io/af_packet_args.cc",
        "native/io/af_xdp.cc",
        "native/io/af_xdp_queues.cc",
        "native/io/af_xdp_rx.cc",
        "native/io/af_xdp_tx.cc",
        "native/io/backend_factory.cc"
      ]
    },
    {
      "target_name": "syncache",
      "dependencies": ["syncache_core"],
      "sources": [
        "native/addon.cc",
        "native/pipeline/pipeline_binding.cc",
        "native/cookie/cookie_binding.cc",
        "native/io/ring_binding.cc",
        "native/io/backend_args.cc",
        "native/handoff/repair.cc",
        "native/handoff/listener.cc",
        "native/handoff/handoff_binding.cc",
        "native/gate/nft_session.cc"
      ],
      "libraries": ["-ldl"],
      "conditions": [
        ["door_missing==''", {
          "sources": ["native/door/door_loader.cc", "native/door/door_flows.cc", "native/door/door_binding.cc"],
          "libraries": ["-lbpf"],
          "actions": [{
            "action_name": "door_bpf_object",
            "inputs": [
              "native/door/build-bpf.sh", "native/door/door.bpf.c", "native/door/door_abi.h",
              "native/door/door_cookie.h", "native/door/door_md5.h", "native/door/door_options.h",
              "native/door/door_sum.h"
            ],
            "outputs": ["<(PRODUCT_DIR)/door.bpf.o"],
            "action": ["sh", "native/door/build-bpf.sh", "<(PRODUCT_DIR)/door.bpf.o"]
          }]
        }, {
          "sources": ["native/door/door_unavailable.cc"],
          "defines": ["SYNCACHE_DOOR_MISSING=\"<(door_missing)\""]
        }]
      ]
    },
    {
      "target_name": "syncache_lab",
      "dependencies": ["syncache_core"],
      "sources": [
        "native/lab/lab_addon.cc",
        "native/lab/flood_binding.cc",
        "native/lab/reply_filter.cc",
        "native/lab/xdp_redirect.cc",
        "native/lab/xdp_redirect_binding.cc"
      ]
    }
  ]
}
