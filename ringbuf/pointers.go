package ringbuf

import "reflect"

// pointerFree reports whether a value of type T holds no pointers (no
// pointer, string, slice, map, channel, function or interface, directly
// or in a field or array element), so that the garbage collector never
// looks inside it. A queue of such items need not zero the slots it
// empties: zeroing a slot only lets the collector free what the popped
// item referenced.
func pointerFree[T any]() bool {
	return typePointerFree(reflect.TypeFor[T]())
}

func typePointerFree(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return true
	case reflect.Array:
		return t.Len() == 0 || typePointerFree(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if !typePointerFree(t.Field(i).Type) {
				return false
			}
		}
		return true
	}
	return false // pointers, strings, slices, maps, channels, funcs, interfaces
}
