# Sourced by the KVM test and bench scripts. kvm_usable: this host can run the x86-64 guest on
# KVM directly: /dev/kvm opens read-write and the CPU shows VT-x or AMD-V. A KVM without them
# (kvm_pvm in cloud VMs without nested virtualization) opens fine but cannot boot an unmodified
# kernel, and kiln refuses it (status 69): such hosts take the nested VM, like hosts without
# /dev/kvm.
kvm_usable() {
    [ -c /dev/kvm ] && { : <>/dev/kvm; } 2>/dev/null && grep -qwE 'vmx|svm' /proc/cpuinfo
}
