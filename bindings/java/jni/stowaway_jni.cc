// JNI over the Stowaway C API for the org.stowaway Java classes.
//
// Threads: Java threads call the C API directly (every function may run on
// any thread; the library hops to its network thread). Callbacks arrive on
// the network thread, which is attached to the JVM once, as a daemon, the
// first time it calls back, and detached when it exits (a pthread key's
// destructor). Every callback runs inside its own local reference frame: an
// attached native thread never returns to Java, so local references would
// otherwise pile up. Callbacks only call Java methods that record state and
// notify; nothing here calls a BLOCKING C function from the network thread.
//
// Lifetimes: each object with callbacks has a heap context holding a global
// reference to its Java peer. It is freed by the Java close() after the
// handle is destroyed (after stow_*_destroy returns, its callbacks never run
// again), or, for stow_resolve, in the one result callback. A callback reads
// what it needs from its context before calling into Java, because Java may
// close the object (and free the context) from inside that call.
//
// Errors: a failed C call throws org.stowaway.StowException with the status,
// its name and stow_last_error_message() (read on the same thread, right
// after the failure).
#include <jni.h>
#include <pthread.h>

#include <cstring>
#include <string>
#include <vector>

#include "bindings/java/org_stowaway_Dns.h"
#include "bindings/java/org_stowaway_Engine.h"
#include "bindings/java/org_stowaway_Session.h"
#include "bindings/java/org_stowaway_TcpStream.h"
#include "sdk/include/stowaway/stowaway.h"

namespace {

JavaVM* g_vm = nullptr;
pthread_key_t g_detach_key;

// Global references to classes and their method IDs, cached in JNI_OnLoad
// (on Android, FindClass on a native thread sees only the system classes).
jclass g_string_class;
jmethodID g_string_from_bytes;  // String(byte[], String charsetName)
jstring g_utf8_name;
jclass g_exception_class;
jmethodID g_exception_init;  // (int, String, String, int, int)
jclass g_engine_class;
jmethodID g_engine_dispatch_log;
jmethodID g_session_on_event;
jmethodID g_session_on_closed;
jmethodID g_tcp_on_connected;
jmethodID g_tcp_on_readable;
jmethodID g_tcp_on_writable;
jmethodID g_tcp_on_closed;
jmethodID g_request_on_result;

// Detaches the network thread from the JVM when it exits.
void DetachOnExit(void* value) {
  JavaVM* vm = static_cast<JavaVM*>(value);
  if (vm != nullptr) vm->DetachCurrentThread();
}

// The JNIEnv of the calling (network) thread, attaching it once.
JNIEnv* CallbackEnv() {
  JNIEnv* env = nullptr;
  jint r = g_vm->GetEnv(reinterpret_cast<void**>(&env), JNI_VERSION_1_6);
  if (r == JNI_OK) return env;
  if (r != JNI_EDETACHED) return nullptr;
  JavaVMAttachArgs args;
  args.version = JNI_VERSION_1_6;
  args.name = const_cast<char*>("stowaway-network");
  args.group = nullptr;
#ifdef __ANDROID__
  r = g_vm->AttachCurrentThreadAsDaemon(&env, &args);
#else
  r = g_vm->AttachCurrentThreadAsDaemon(reinterpret_cast<void**>(&env), &args);
#endif
  if (r != JNI_OK) return nullptr;
  pthread_setspecific(g_detach_key, g_vm);
  return env;
}

// A local reference frame for one callback; reports and clears an exception
// the Java side let escape (it must not stay pending on this thread).
class CallbackScope {
 public:
  CallbackScope() : env_(CallbackEnv()) {
    if (env_ != nullptr && env_->PushLocalFrame(16) != JNI_OK) {
      env_->ExceptionClear();
      env_ = nullptr;
    }
  }
  ~CallbackScope() {
    if (env_ == nullptr) return;
    if (env_->ExceptionCheck()) {
      env_->ExceptionDescribe();
      env_->ExceptionClear();
    }
    env_->PopLocalFrame(nullptr);
  }
  CallbackScope(const CallbackScope&) = delete;
  CallbackScope& operator=(const CallbackScope&) = delete;
  JNIEnv* env() const { return env_; }

 private:
  JNIEnv* env_;
};

// A Java String from UTF-8 bytes (NewStringUTF wants modified UTF-8 and
// aborts on some inputs under -Xcheck:jni).
jstring NewString(JNIEnv* env, const char* utf8) {
  if (utf8 == nullptr) utf8 = "";
  const jsize len = static_cast<jsize>(std::strlen(utf8));
  jbyteArray bytes = env->NewByteArray(len);
  if (bytes == nullptr) return nullptr;
  env->SetByteArrayRegion(bytes, 0, len, reinterpret_cast<const jbyte*>(utf8));
  jstring s = static_cast<jstring>(
      env->NewObject(g_string_class, g_string_from_bytes, bytes, g_utf8_name));
  env->DeleteLocalRef(bytes);
  return s;
}

// The bytes of a Java byte[] as a NUL-terminated C++ string.
bool ToString(JNIEnv* env, jbyteArray array, std::string* out) {
  if (array == nullptr) return false;
  const jsize len = env->GetArrayLength(array);
  out->assign(static_cast<size_t>(len), '\0');
  if (len > 0) {
    env->GetByteArrayRegion(array, 0, len, reinterpret_cast<jbyte*>(&(*out)[0]));
  }
  return !env->ExceptionCheck();
}

jthrowable NewStowException(JNIEnv* env, stow_status status,
                            const char* message, int32_t category,
                            int32_t retry_after_ms) {
  jstring name = NewString(env, stow_status_name(status));
  if (name == nullptr) return nullptr;
  jstring detail = NewString(env, message);
  if (detail == nullptr) return nullptr;
  auto* e = static_cast<jthrowable>(
      env->NewObject(g_exception_class, g_exception_init, status, name, detail,
                     category, retry_after_ms));
  env->DeleteLocalRef(name);
  env->DeleteLocalRef(detail);
  return e;
}

// Throws StowException for a call that failed on this thread, with the
// thread's stow_last_error_message().
void ThrowStatus(JNIEnv* env, stow_status status) {
  if (env->ExceptionCheck()) return;
  // Copy first: building Java objects must not disturb the message.
  const std::string message = stow_last_error_message();
  jthrowable e = NewStowException(env, status, message.c_str(), 0, 0);
  if (e != nullptr) env->Throw(e);
}

void ThrowInvalid(JNIEnv* env, const char* message) {
  if (env->ExceptionCheck()) return;
  jthrowable e =
      NewStowException(env, STOW_ERR_INVALID_ARGUMENT, message, 0, 0);
  if (e != nullptr) env->Throw(e);
}

template <typename T>
T* FromJlong(jlong value) {
  return reinterpret_cast<T*>(static_cast<intptr_t>(value));
}

template <typename T>
jlong ToJlong(T* pointer) {
  return static_cast<jlong>(reinterpret_cast<intptr_t>(pointer));
}

jlongArray Pair(JNIEnv* env, jlong a, jlong b) {
  jlongArray out = env->NewLongArray(2);
  if (out == nullptr) return nullptr;
  const jlong values[2] = {a, b};
  env->SetLongArrayRegion(out, 0, 2, values);
  return out;
}

// Writes a string result of a (buf, buf_len) function, growing the buffer
// on STOW_ERR_BUFFER_TOO_SMALL.
template <typename Fn>
jstring StringResult(JNIEnv* env, Fn fn) {
  std::vector<char> buf(256);
  for (int attempt = 0; attempt < 8; ++attempt) {
    size_t needed = 0;
    stow_status s = fn(buf.data(), buf.size(), &needed);
    if (s == STOW_OK) return NewString(env, buf.data());
    if (s != STOW_ERR_BUFFER_TOO_SMALL) {
      ThrowStatus(env, s);
      return nullptr;
    }
    buf.resize(needed + 1 > buf.size() * 2 ? needed + 1 : buf.size() * 2);
  }
  ThrowStatus(env, STOW_ERR_BUFFER_TOO_SMALL);
  return nullptr;
}

// ---- Contexts ----

// The engine's log listener: the Engine and its LogListener.
struct LogContext {
  jobject engine;
  jobject listener;
};

void FreeLogContext(JNIEnv* env, LogContext* c) {
  if (c == nullptr) return;
  env->DeleteGlobalRef(c->engine);
  env->DeleteGlobalRef(c->listener);
  delete c;
}

void OnLog(void* context, int32_t level, const char* message) {
  auto* c = static_cast<LogContext*>(context);
  CallbackScope scope;
  JNIEnv* env = scope.env();
  if (env == nullptr) return;
  jstring text = NewString(env, message);
  if (text == nullptr) return;
  env->CallStaticVoidMethod(g_engine_class, g_engine_dispatch_log, c->engine,
                            c->listener, static_cast<jint>(level), text);
}

// A Session's or a TcpStream's Java peer.
struct PeerContext {
  jobject peer;
};

void FreePeerContext(JNIEnv* env, PeerContext* c) {
  if (c == nullptr) return;
  env->DeleteGlobalRef(c->peer);
  delete c;
}

void CallClosed(void* context, jmethodID method, const stow_error* error) {
  jobject peer = static_cast<PeerContext*>(context)->peer;
  CallbackScope scope;
  JNIEnv* env = scope.env();
  if (env == nullptr) return;
  jstring message = NewString(env, error->message);
  if (message == nullptr) return;
  env->CallVoidMethod(peer, method, static_cast<jint>(error->status),
                      static_cast<jint>(error->category),
                      static_cast<jint>(error->retry_after_ms), message);
}

void OnSessionEvent(void* context, stow_session*,
                    const stow_session_event* event) {
  jobject peer = static_cast<PeerContext*>(context)->peer;
  CallbackScope scope;
  JNIEnv* env = scope.env();
  if (env == nullptr) return;
  jstring reason = NewString(env, event->reason);
  if (reason == nullptr) return;
  env->CallVoidMethod(peer, g_session_on_event,
                      static_cast<jint>(event->state), reason,
                      static_cast<jint>(event->retry_after_ms));
}

void OnSessionClosed(void* context, stow_session*, const stow_error* error) {
  CallClosed(context, g_session_on_closed, error);
}

void CallTcp(void* context, jmethodID method) {
  jobject peer = static_cast<PeerContext*>(context)->peer;
  CallbackScope scope;
  JNIEnv* env = scope.env();
  if (env == nullptr) return;
  env->CallVoidMethod(peer, method);
}

void OnTcpConnected(void* context, stow_tcp*) {
  CallTcp(context, g_tcp_on_connected);
}
void OnTcpReadable(void* context, stow_tcp*) {
  CallTcp(context, g_tcp_on_readable);
}
void OnTcpWritable(void* context, stow_tcp*) {
  CallTcp(context, g_tcp_on_writable);
}
void OnTcpClosed(void* context, stow_tcp*, const stow_error* error) {
  CallClosed(context, g_tcp_on_closed, error);
}

// The one result of stow_resolve; frees its context.
void OnResolved(void* context, const stow_error* error,
                const char* const* addresses, size_t count) {
  auto* c = static_cast<PeerContext*>(context);
  {
    CallbackScope scope;
    JNIEnv* env = scope.env();
    if (env == nullptr) return;  // Cannot happen short of a dead JVM.
    jobjectArray list = env->NewObjectArray(static_cast<jsize>(count),
                                            g_string_class, nullptr);
    jstring message = list == nullptr ? nullptr : NewString(env, error->message);
    bool ok = message != nullptr;
    for (size_t i = 0; ok && i < count; ++i) {
      jstring a = NewString(env, addresses[i]);
      ok = a != nullptr;
      if (ok) {
        env->SetObjectArrayElement(list, static_cast<jsize>(i), a);
        env->DeleteLocalRef(a);
      }
    }
    if (ok) {
      env->CallVoidMethod(c->peer, g_request_on_result,
                          static_cast<jint>(error->status),
                          static_cast<jint>(error->category),
                          static_cast<jint>(error->retry_after_ms), message,
                          list);
    }
    FreePeerContext(env, c);
  }
}

bool Cache(JNIEnv* env, jclass* out, const char* name) {
  jclass local = env->FindClass(name);
  if (local == nullptr) return false;
  *out = static_cast<jclass>(env->NewGlobalRef(local));
  env->DeleteLocalRef(local);
  return *out != nullptr;
}

}  // namespace

extern "C" {

JNIEXPORT jint JNI_OnLoad(JavaVM* vm, void*) {
  JNIEnv* env = nullptr;
  if (vm->GetEnv(reinterpret_cast<void**>(&env), JNI_VERSION_1_6) != JNI_OK) {
    return JNI_ERR;
  }
  g_vm = vm;
  if (pthread_key_create(&g_detach_key, &DetachOnExit) != 0) return JNI_ERR;
  jclass session_class = nullptr;
  jclass tcp_class = nullptr;
  jclass request_class = nullptr;
  if (!Cache(env, &g_string_class, "java/lang/String") ||
      !Cache(env, &g_exception_class, "org/stowaway/StowException") ||
      !Cache(env, &g_engine_class, "org/stowaway/Engine") ||
      !Cache(env, &session_class, "org/stowaway/Session") ||
      !Cache(env, &tcp_class, "org/stowaway/TcpStream") ||
      !Cache(env, &request_class, "org/stowaway/Dns$Request")) {
    return JNI_ERR;
  }
  g_string_from_bytes =
      env->GetMethodID(g_string_class, "<init>", "([BLjava/lang/String;)V");
  jstring utf8 = env->NewStringUTF("UTF-8");
  if (utf8 == nullptr) return JNI_ERR;
  g_utf8_name = static_cast<jstring>(env->NewGlobalRef(utf8));
  g_exception_init = env->GetMethodID(
      g_exception_class, "<init>", "(ILjava/lang/String;Ljava/lang/String;II)V");
  g_engine_dispatch_log = env->GetStaticMethodID(
      g_engine_class, "dispatchLog",
      "(Lorg/stowaway/Engine;Lorg/stowaway/Engine$LogListener;ILjava/lang/String;)V");
  g_session_on_event = env->GetMethodID(session_class, "onNativeEvent",
                                        "(ILjava/lang/String;I)V");
  g_session_on_closed = env->GetMethodID(session_class, "onNativeClosed",
                                         "(IIILjava/lang/String;)V");
  g_tcp_on_connected = env->GetMethodID(tcp_class, "onNativeConnected", "()V");
  g_tcp_on_readable = env->GetMethodID(tcp_class, "onNativeReadable", "()V");
  g_tcp_on_writable = env->GetMethodID(tcp_class, "onNativeWritable", "()V");
  g_tcp_on_closed = env->GetMethodID(tcp_class, "onNativeClosed",
                                     "(IIILjava/lang/String;)V");
  g_request_on_result =
      env->GetMethodID(request_class, "onNativeResult",
                       "(IIILjava/lang/String;[Ljava/lang/String;)V");
  // The classes stay loaded: the method IDs above keep pointing at them.
  env->DeleteGlobalRef(session_class);
  env->DeleteGlobalRef(tcp_class);
  env->DeleteGlobalRef(request_class);
  if (env->ExceptionCheck()) return JNI_ERR;
  return JNI_VERSION_1_6;
}

// ---- Engine ----

JNIEXPORT jstring JNICALL Java_org_stowaway_Engine_nativeVersion(JNIEnv* env,
                                                                  jclass) {
  return NewString(env, stow_version());
}

JNIEXPORT jstring JNICALL
Java_org_stowaway_Engine_nativeStatusName(JNIEnv* env, jclass, jint status) {
  return NewString(env, stow_status_name(status));
}

JNIEXPORT jstring JNICALL
Java_org_stowaway_Engine_nativeStatusString(JNIEnv* env, jclass, jint status) {
  return NewString(env, stow_status_string(status));
}

JNIEXPORT jlong JNICALL Java_org_stowaway_Engine_nativeCreate(JNIEnv* env,
                                                              jclass) {
  stow_engine* engine = nullptr;
  stow_status s = stow_engine_create(&engine);
  if (s != STOW_OK) {
    ThrowStatus(env, s);
    return 0;
  }
  return ToJlong(engine);
}

JNIEXPORT jlong JNICALL Java_org_stowaway_Engine_nativeSetLog(
    JNIEnv* env, jobject self, jlong engine, jint max_level, jobject listener,
    jlong old_context) {
  LogContext* context = nullptr;
  if (listener != nullptr) {
    context = new LogContext{env->NewGlobalRef(self),
                             env->NewGlobalRef(listener)};
  }
  stow_status s = stow_engine_set_log(
      FromJlong<stow_engine>(engine), max_level,
      listener != nullptr ? &OnLog : nullptr, context);
  if (s != STOW_OK) {
    FreeLogContext(env, context);
    ThrowStatus(env, s);
    return old_context;
  }
  // The old callback cannot run any more: the setter ran on the network
  // thread, between callbacks.
  FreeLogContext(env, FromJlong<LogContext>(old_context));
  return ToJlong(context);
}

JNIEXPORT void JNICALL Java_org_stowaway_Engine_nativeDestroy(
    JNIEnv* env, jclass, jlong engine, jlong log_context) {
  stow_status s = stow_engine_destroy(FromJlong<stow_engine>(engine));
  if (s != STOW_OK) {
    ThrowStatus(env, s);
    return;
  }
  FreeLogContext(env, FromJlong<LogContext>(log_context));
}

// ---- Session ----

JNIEXPORT jlongArray JNICALL Java_org_stowaway_Session_nativeCreate(
    JNIEnv* env, jclass, jlong engine, jbyteArray profile, jobject self) {
  std::string json;
  if (!ToString(env, profile, &json)) {
    ThrowInvalid(env, "a profile is required");
    return nullptr;
  }
  auto* context = new PeerContext{env->NewGlobalRef(self)};
  stow_session_callbacks cb{};
  cb.struct_size = sizeof(cb);
  cb.context = context;
  cb.on_event = &OnSessionEvent;
  cb.on_closed = &OnSessionClosed;
  stow_session* session = nullptr;
  stow_status s = stow_session_create(FromJlong<stow_engine>(engine),
                                      json.data(), json.size(), &cb, &session);
  if (s != STOW_OK) {
    ThrowStatus(env, s);  // Before freeing: keeps the message intact.
    FreePeerContext(env, context);
    return nullptr;
  }
  jlongArray out = Pair(env, ToJlong(session), ToJlong(context));
  if (out == nullptr) {
    stow_session_destroy(session);
    FreePeerContext(env, context);
  }
  return out;
}

JNIEXPORT void JNICALL Java_org_stowaway_Session_nativeStart(JNIEnv* env,
                                                             jclass,
                                                             jlong session) {
  stow_status s = stow_session_start(FromJlong<stow_session>(session));
  if (s != STOW_OK) ThrowStatus(env, s);
}

JNIEXPORT void JNICALL Java_org_stowaway_Session_nativeStop(JNIEnv* env,
                                                            jclass,
                                                            jlong session) {
  stow_status s = stow_session_stop(FromJlong<stow_session>(session));
  if (s != STOW_OK) ThrowStatus(env, s);
}

JNIEXPORT jint JNICALL Java_org_stowaway_Session_nativeState(JNIEnv* env,
                                                             jclass,
                                                             jlong session) {
  int32_t state = 0;
  stow_status s = stow_session_state(FromJlong<stow_session>(session), &state);
  if (s != STOW_OK) ThrowStatus(env, s);
  return state;
}

JNIEXPORT jstring JNICALL Java_org_stowaway_Session_nativeAddress(
    JNIEnv* env, jclass, jlong session, jint family) {
  return StringResult(env, [&](char* buf, size_t len, size_t*) {
    return stow_session_address(FromJlong<stow_session>(session), family, buf,
                                len);
  });
}

JNIEXPORT jobjectArray JNICALL
Java_org_stowaway_Session_nativeDnsServers(JNIEnv* env, jclass, jlong session) {
  std::vector<std::string> servers;
  for (size_t i = 0;; ++i) {
    char buf[64];
    stow_status s = stow_session_dns_server(FromJlong<stow_session>(session),
                                            i, buf, sizeof(buf));
    if (s == STOW_OK) {
      servers.emplace_back(buf);
      continue;
    }
    // Past the last server, or none yet.
    if (s == STOW_ERR_INVALID_ARGUMENT || s == STOW_ERR_NOT_CONNECTED) break;
    ThrowStatus(env, s);
    return nullptr;
  }
  jobjectArray out = env->NewObjectArray(static_cast<jsize>(servers.size()),
                                         g_string_class, nullptr);
  if (out == nullptr) return nullptr;
  for (size_t i = 0; i < servers.size(); ++i) {
    jstring a = NewString(env, servers[i].c_str());
    if (a == nullptr) return nullptr;
    env->SetObjectArrayElement(out, static_cast<jsize>(i), a);
    env->DeleteLocalRef(a);
  }
  return out;
}

JNIEXPORT jstring JNICALL Java_org_stowaway_Session_nativeStats(JNIEnv* env,
                                                                jclass,
                                                                jlong session) {
  return StringResult(env, [&](char* buf, size_t len, size_t* needed) {
    return stow_session_stats(FromJlong<stow_session>(session), buf, len,
                              needed);
  });
}

JNIEXPORT void JNICALL Java_org_stowaway_Session_nativeDestroy(
    JNIEnv* env, jclass, jlong session, jlong context) {
  stow_session_destroy(FromJlong<stow_session>(session));
  // No callback of the session runs after this point.
  FreePeerContext(env, FromJlong<PeerContext>(context));
}

// ---- TcpStream ----

JNIEXPORT jlongArray JNICALL Java_org_stowaway_TcpStream_nativeConnect(
    JNIEnv* env, jclass, jlong session, jbyteArray host, jint port,
    jobject self) {
  std::string name;
  if (!ToString(env, host, &name)) {
    ThrowInvalid(env, "a host is required");
    return nullptr;
  }
  auto* context = new PeerContext{env->NewGlobalRef(self)};
  stow_tcp_callbacks cb{};
  cb.struct_size = sizeof(cb);
  cb.context = context;
  cb.on_connected = &OnTcpConnected;
  cb.on_readable = &OnTcpReadable;
  cb.on_writable = &OnTcpWritable;
  cb.on_closed = &OnTcpClosed;
  stow_tcp* tcp = nullptr;
  stow_status s = stow_tcp_connect(FromJlong<stow_session>(session),
                                   name.c_str(), static_cast<uint16_t>(port),
                                   &cb, &tcp);
  if (s != STOW_OK) {
    ThrowStatus(env, s);
    FreePeerContext(env, context);
    return nullptr;
  }
  jlongArray out = Pair(env, ToJlong(tcp), ToJlong(context));
  if (out == nullptr) {
    stow_tcp_destroy(tcp);
    FreePeerContext(env, context);
  }
  return out;
}

// Through a bounded native buffer: a Java array may not be pinned while the
// call waits for the network thread.
constexpr size_t kChunk = 64 * 1024;

JNIEXPORT jint JNICALL Java_org_stowaway_TcpStream_nativeRead(
    JNIEnv* env, jclass, jlong tcp, jbyteArray b, jint off, jint len) {
  const size_t want = static_cast<size_t>(len) < kChunk ? len : kChunk;
  std::vector<uint8_t> buf(want);
  size_t n = 0;
  stow_status s = stow_tcp_read(FromJlong<stow_tcp>(tcp), buf.data(),
                                buf.size(), &n);
  if (s == STOW_ERR_WOULD_BLOCK) return 0;
  if (s == STOW_ERR_EOF) return -1;
  if (s != STOW_OK) {
    ThrowStatus(env, s);
    return 0;
  }
  env->SetByteArrayRegion(b, off, static_cast<jsize>(n),
                          reinterpret_cast<const jbyte*>(buf.data()));
  return static_cast<jint>(n);
}

JNIEXPORT jint JNICALL Java_org_stowaway_TcpStream_nativeWrite(
    JNIEnv* env, jclass, jlong tcp, jbyteArray b, jint off, jint len) {
  const size_t want = static_cast<size_t>(len) < kChunk ? len : kChunk;
  std::vector<uint8_t> buf(want);
  env->GetByteArrayRegion(b, off, static_cast<jsize>(want),
                          reinterpret_cast<jbyte*>(buf.data()));
  if (env->ExceptionCheck()) return 0;
  size_t n = 0;
  stow_status s = stow_tcp_write(FromJlong<stow_tcp>(tcp), buf.data(),
                                 buf.size(), &n);
  if (s == STOW_ERR_WOULD_BLOCK) return 0;
  if (s != STOW_OK) {
    ThrowStatus(env, s);
    return 0;
  }
  return static_cast<jint>(n);
}

JNIEXPORT void JNICALL Java_org_stowaway_TcpStream_nativeShutdown(JNIEnv* env,
                                                                  jclass,
                                                                  jlong tcp) {
  stow_status s = stow_tcp_shutdown(FromJlong<stow_tcp>(tcp));
  if (s != STOW_OK) ThrowStatus(env, s);
}

JNIEXPORT void JNICALL Java_org_stowaway_TcpStream_nativeClose(
    JNIEnv* env, jclass, jlong tcp, jlong context) {
  // Close first so that destroying lets the graceful close finish (queued
  // bytes still go out); an already ended connection just goes.
  (void)stow_tcp_close(FromJlong<stow_tcp>(tcp));
  stow_tcp_destroy(FromJlong<stow_tcp>(tcp));
  FreePeerContext(env, FromJlong<PeerContext>(context));
}

// ---- Dns ----

JNIEXPORT void JNICALL Java_org_stowaway_Dns_nativeResolve(
    JNIEnv* env, jclass, jlong session, jbyteArray name, jint family,
    jobject request) {
  std::string host;
  if (!ToString(env, name, &host)) {
    ThrowInvalid(env, "a name is required");
    return;
  }
  auto* context = new PeerContext{env->NewGlobalRef(request)};
  stow_status s = stow_resolve(FromJlong<stow_session>(session), host.c_str(),
                               family, &OnResolved, context);
  if (s != STOW_OK) {
    ThrowStatus(env, s);  // A failed call never calls back.
    FreePeerContext(env, context);
  }
}

}  // extern "C"
