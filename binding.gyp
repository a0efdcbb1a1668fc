{
  "targets": [
    {
      "target_name": "syncache",
      "sources": [
        "native/addon.cc",
        "native/boundary/errors.cc",
        "native/pipeline/pipeline.cc",
        "native/pipeline/pipeline_binding.cc",
        "native/wire/parse.cc",
        "native/wire/build.cc",
        "native/cookie/md5.cc",
        "native/cookie/syncookie.cc",
        "native/cookie/cookie_binding.cc",
        "native/ring/packet_ring.cc",
        "native/ring/bpf_filter.cc",
        "native/ring/netns.cc",
        "native/route/next_hop_table.cc",
        "native/route/route_mirror.cc",
        "native/ring/ring_binding.cc",
        "native/flood/flood_binding.cc",
        "native/handoff/repair.cc",
        "native/handoff/handoff_binding.cc",
        "native/gate/nft_session.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-O3", "-fno-exceptions", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"],
      "cflags": ["-O3"],
      "libraries": ["-ldl"]
    }
  ]
}
