#!/usr/bin/env bash
echo "[kernels] stub"
